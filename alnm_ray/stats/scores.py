"""Linear-predictor scores (rad-score, "tumour score", "LN score") as portable formulas.

Zhang 2025 builds a *tumour score* and an *LN score* from the features a
LASSO keeps: ``score = b0 + b1*f1 + ... + bk*fk``, then uses each score as
one predictor of the clinical-radiomics model, and prints the formulas in its
supplement.  :class:`LinearScore` holds such a formula (it learns nothing; the
coefficients come from an already fitted model) so that it can be applied to
new patients, printed and stored as JSON.

:meth:`LinearScore.from_estimator` reads the coefficients of

* :class:`alnm_ray.select.lasso_logistic.LogisticLassoSelector` -- the
  L1-penalised logistic regression: ``coef_`` (one per input feature; zeros
  are the dropped features), ``intercept_`` and ``feature_names_in_``; its
  score is the log-odds "Rad-score" (``scale="log-odds"``);
* :class:`alnm_ray.select.lasso.LassoCVSelector` -- the same attributes, but
  that LASSO regresses the 0/1 label with squared error, so its score is on
  the probability-like scale of a linear probability model (``scale`` left
  unset).  For both selectors the features are those the selector saw
  (usually z-scored inside the pipeline), so score the same scaled table;
* a scikit-learn ``LogisticRegression`` (``coef_`` of shape ``(1, p)``), whose
  score is the log-odds;
* :class:`alnm_ray.stats.logistic.ClinicalLogisticModel` (``coef_`` Series).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError

__all__ = ["LinearScore"]

#: Format tag written into the JSON form, checked when reading it back.
SCORE_FORMAT = "alnm-ray.linear-score/1"


@dataclass(frozen=True)
class LinearScore:
    """``score = intercept + sum(coefficients * features)``.

    Attributes:
        intercept: ``b0``.
        feature_names: Feature (column) names, in formula order.
        coefficients: One coefficient per feature.
        name: What the score is called (``"tumour_score"``, ``"LN_score"``).
        scale: ``"log-odds"`` when the score is a logistic model's linear
            predictor (its exp is an odds); None when not known (e.g. a
            squared-error LASSO).

    Example:
        >>> s = LinearScore(0.5, ("f1", "f2"), (1.0, -2.0), name="LN_score")
        >>> s.formula(2)
        'LN_score = 0.50 + 1.00 × f1 - 2.00 × f2'
        >>> s.score(pd.DataFrame({"f2": [1.0], "f1": [3.0]})).tolist()
        [1.5]
        >>> LinearScore.from_json(s.to_json()) == s
        True
    """

    intercept: float
    feature_names: tuple[str, ...]
    coefficients: tuple[float, ...]
    name: str = "score"
    scale: str | None = None

    def __post_init__(self) -> None:
        names = tuple(str(n) for n in self.feature_names)
        coefs = tuple(float(c) for c in self.coefficients)
        object.__setattr__(self, "feature_names", names)
        object.__setattr__(self, "coefficients", coefs)
        object.__setattr__(self, "intercept", float(self.intercept))
        if len(names) != len(coefs):
            raise ConfigError(
                f"{self.name}: expected one coefficient per feature ({len(names)} names); got "
                f"{len(coefs)} coefficients. Pass matching lists.")
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ConfigError(
                f"{self.name}: expected distinct feature names; got duplicates {capped(dup)}. "
                "Give each feature once.")
        bad = [n for n, c in zip(names, coefs) if not math.isfinite(c)]
        if bad or not math.isfinite(self.intercept):
            raise ConfigError(
                f"{self.name}: expected finite coefficients; got non-finite values for "
                f"{capped(sorted(bad) or ['intercept'])}. Refit the model the score comes from.")

    @classmethod
    def from_estimator(cls, estimator: Any, *, name: str = "score",
                       feature_names: Sequence[str] | None = None,
                       drop_zero: bool = True) -> LinearScore:
        """The linear predictor of a fitted LASSO selector or logistic model.

        Args:
            estimator: A fitted object with ``coef_`` (shape ``(p,)``, ``(1, p)``
                or a Series) and ``intercept_`` (scalar or shape ``(1,)``).
            name: The score's name.
            feature_names: Names of the ``p`` features; default
                ``estimator.feature_names_in_`` (or the Series index).
            drop_zero: Leave out features whose coefficient is exactly 0 (the
                features a LASSO did not select).

        The scale is the estimator's ``score_scale_`` when it has one, and
        ``"log-odds"`` for scikit-learn's ``LogisticRegression`` and
        :class:`~alnm_ray.stats.logistic.ClinicalLogisticModel`.

        Returns:
            A :class:`LinearScore`.

        Raises:
            NotFittedError: ``estimator`` has no ``coef_`` / ``intercept_``.
            ConfigError: A multi-class model, or names that do not match.
        """
        if not hasattr(estimator, "coef_") or not hasattr(estimator, "intercept_"):
            raise NotFittedError(
                f"{name}: expected a fitted estimator with coef_ and intercept_; got "
                f"{type(estimator).__name__} without them. Fit it first.")
        coef = estimator.coef_
        if isinstance(coef, pd.Series):
            names = [str(i) for i in coef.index] if feature_names is None else list(feature_names)
            values = coef.to_numpy(dtype=float)
        else:
            values = np.asarray(coef, dtype=float)
            if values.ndim == 2 and values.shape[0] == 1:
                values = values[0]
            if values.ndim != 1:
                raise ConfigError(
                    f"{name}: expected one coefficient vector (a binary model); got coef_ of "
                    f"shape {np.asarray(coef).shape}. Use a binary (ALNM yes/no) model.")
            if feature_names is None:
                if not hasattr(estimator, "feature_names_in_"):
                    raise ConfigError(
                        f"{name}: expected feature names; the estimator was fitted without "
                        "column names. Fit it on a DataFrame or pass feature_names=[...].")
                feature_names = [str(n) for n in estimator.feature_names_in_]
            names = list(feature_names)
        if len(names) != values.size:
            raise ConfigError(
                f"{name}: expected {values.size} feature names (one per coefficient); got "
                f"{len(names)}. Pass the names of the columns the estimator was fitted on.")
        intercept = float(np.ravel(np.asarray(estimator.intercept_, dtype=float))[0])
        keep = values != 0.0 if drop_zero else np.ones(values.size, dtype=bool)
        return cls(intercept, tuple(n for n, k in zip(names, keep) if k),
                   tuple(float(v) for v in values[keep]), name=name, scale=_scale_of(estimator))

    def score(self, X: Any) -> np.ndarray:
        """The score of every row of ``X``, shape ``(n,)``.

        Args:
            X: A DataFrame holding (at least) :attr:`feature_names`, matched by
                name; or an array with exactly those columns in that order.

        Raises:
            SchemaMismatchError: Missing columns, a wrong width or non-finite values.
        """
        if isinstance(X, pd.DataFrame):
            absent = sorted(set(self.feature_names) - set(map(str, X.columns)))
            if absent:
                raise SchemaMismatchError(
                    f"{self.name}: X: expected the score's features; missing {capped(absent)}. "
                    "Pass the table the score was built on (same feature names and scaling).")
            values = X.rename(columns=str)[list(self.feature_names)].to_numpy(dtype=float)
        else:
            values = np.asarray(X, dtype=float)
            if values.ndim != 2 or values.shape[1] != len(self.feature_names):
                raise SchemaMismatchError(
                    f"{self.name}: X: expected shape (n, {len(self.feature_names)}) in the order "
                    f"{capped(self.feature_names, 3)}; got {values.shape}. Pass a DataFrame to "
                    "match by name.")
        if not np.isfinite(values).all():
            raise SchemaMismatchError(
                f"{self.name}: X: expected finite feature values; found NaN or infinity in "
                f"{int((~np.isfinite(values)).any(axis=1).sum())} row(s). Impute or drop them.")
        return self.intercept + values @ np.asarray(self.coefficients)

    def formula(self, digits: int = 4) -> str:
        """``name = b0 + b1 × f1 - b2 × f2 ...`` with ``digits`` decimals."""
        parts = [f"{self.intercept:.{digits}f}"]
        for n, c in zip(self.feature_names, self.coefficients):
            parts.append(f"{'-' if c < 0 else '+'} {abs(c):.{digits}f} × {n}")
        return f"{self.name} = " + " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (full double precision)."""
        return {"format": SCORE_FORMAT, "name": self.name, "scale": self.scale,
                "intercept": self.intercept,
                "features": [{"name": n, "coefficient": c}
                             for n, c in zip(self.feature_names, self.coefficients)]}

    def to_json(self) -> str:
        """:meth:`to_dict` as JSON text; floats round-trip exactly."""
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinearScore:
        """Inverse of :meth:`to_dict`.

        Raises:
            ConfigError: Not a linear-score document.
        """
        if not isinstance(data, dict) or data.get("format") != SCORE_FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ConfigError(
                f"linear score: expected a document with format {SCORE_FORMAT!r}; got "
                f"{found!r}. Load a file written by LinearScore.to_json().")
        feats = data.get("features", [])
        return cls(data["intercept"], tuple(f["name"] for f in feats),
                   tuple(f["coefficient"] for f in feats), name=data.get("name", "score"),
                   scale=data.get("scale"))

    @classmethod
    def from_json(cls, text: str) -> LinearScore:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def _scale_of(estimator: Any) -> str | None:
    """``"log-odds"`` for logistic models (own ``score_scale_`` first); None otherwise."""
    scale = getattr(estimator, "score_scale_", None)
    if scale is not None:
        return str(scale)
    from sklearn.linear_model import LogisticRegression

    from alnm_ray.stats.logistic import ClinicalLogisticModel

    return "log-odds" if isinstance(estimator, (LogisticRegression, ClinicalLogisticModel)) else None
