"""Per-ROI scores and the stepwise clinical-radiomics logistic model (Zhang 2025), as estimators.

A protocol's ``model: {kind: score_nomogram, ...}`` section describes

1. one **score per ROI** (``rois: {tumour_score: US_TUMOR, LN_score: US_LN}``):
   that sequence's handcrafted and deep features go through the protocol's
   selection chain (ICC filter -> z-score -> mutual-information redundancy ->
   LASSO, :func:`~alnm_ray.select.pipeline.build_selection_pipeline`); the
   LASSO's linear predictor is the score (:class:`ROIScore`,
   :class:`~alnm_ray.stats.scores.LinearScore`).  With the ``lasso_logistic``
   step (the shipped zhang2025 protocol) it is the log-odds "Rad-score" of an
   L1-penalised logistic regression, ``intercept + sum(coef * z-scored
   feature)``; with ``lasso`` (squared error) it is a linear probability;
2. the **clinical-radiomics model**: univariate screen of the clinical
   factors and the scores, then stepwise backward multivariable logistic
   regression (:class:`~alnm_ray.stats.logistic.ClinicalLogisticModel`);
3. the **clinical model** by the same method on the clinical factors alone;
4. the **single-score models**: each score's univariate logistic fit (its
   Table 2 row), which turns a score into a probability for calibration,
   decision curves, NRI and IDI (the AUC is the score's own);
5. the **nomogram** of the clinical-radiomics model, its Nomo-score and the
   high/low-risk groups at the training-set Youden cut-off.

:class:`ScoreNomogramModel` learns all of it from the training rows only; the
other sets are scored with the frozen formulas.  It also writes itself as a
JSON document (no pickles) that :func:`score_from_document` scores from raw
feature values, which is what the signed bundle holds.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from alnm_ray import constants as C
from alnm_ray._validation import capped, did_you_mean
from alnm_ray.exceptions import ConfigError, NotFittedError, SchemaMismatchError

__all__ = ["MODEL_KIND", "ROIScore", "ScoreModelSpec", "ScoreNomogramModel", "model_problems",
           "score_from_document"]

#: The ``model.kind`` this module implements.
MODEL_KIND = "score_nomogram"
#: Name of the clinical-radiomics model, the clinical model and the single-score models' classifier.
CLINICAL_RADIOMICS = "clinical_radiomics"
CLINICAL = "clinical"
LOGISTIC = "logistic"
SCORE_CLASSIFIER = "lasso"
#: Selection steps whose linear predictor can be a score (the chain's last step).
SCORE_STEPS = ("lasso_logistic", "lasso")
#: Format tag of the JSON document (the bundle's model file).
DOCUMENT_FORMAT = "alnm-ray.score-nomogram/1"
_KEYS = ("kind", "rois", "univariate_p", "selection", "stay_p", "categorical", "risk_cutoff",
         "compare_with", "tests", "calibration", "curves", "readers", "reader_set")
_TESTS = ("delong", "nri", "idi")


@dataclass(frozen=True)
class ScoreModelSpec:
    """The ``model`` section of a ``score_nomogram`` protocol, validated.

    Attributes:
        rois: ``(score name, sequence)`` pairs, e.g. ``(("tumour_score", "US_TUMOR"), ...)``.
        univariate_p, selection, stay_p: The logistic models' screen and elimination.
        categorical: ``(column, reference level)`` pairs.
        compare_with: Models the clinical-radiomics model is compared with.
        tests: Comparison tests (``delong``, ``nri``, ``idi``).
        readers: ``(reader, (call without, call with))`` column pairs.
        reader_set: The set the readers read (a validation set name).

    Example:
        >>> from alnm_ray.protocol import load_protocol
        >>> spec = ScoreModelSpec.from_protocol(load_protocol("zhang2025"))
        >>> spec.rois, spec.stay_p
        ((('tumour_score', 'US_TUMOR'), ('LN_score', 'US_LN')), 0.05)
    """

    rois: tuple[tuple[str, str], ...]
    univariate_p: float | None = 0.05
    selection: str = "backward"
    stay_p: float = 0.05
    categorical: tuple[tuple[str, str], ...] = ()
    compare_with: tuple[str, ...] = ()
    tests: tuple[str, ...] = _TESTS
    readers: tuple[tuple[str, tuple[str, str]], ...] = ()
    reader_set: str | None = None

    @property
    def score_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.rois)

    def logistic_params(self, categorical: list[str] | None = None) -> dict[str, Any]:
        """Keyword arguments of :class:`~alnm_ray.stats.logistic.ClinicalLogisticModel`."""
        cats = {c: r for c, r in self.categorical if categorical is None or c in categorical}
        return {"univariate_p": self.univariate_p, "selection": self.selection, "stay_p": self.stay_p,
                "categorical": cats, "on_separation": "exclude", "empty_policy": "best"}

    @classmethod
    def from_protocol(cls, p: Any) -> ScoreModelSpec:
        """Read and check ``p.data["model"]``.

        Raises:
            ConfigError: Unknown keys or values (all listed, four-part).
        """
        problems = spec_problems(p)
        if problems:
            raise ConfigError(f"protocol {p.name}: model: {len(problems)} problem(s):\n"
                              + "\n".join(f"  - {q}" for q in problems))
        m = p.data["model"]
        names = [n for n, _ in (m.get("rois") or {}).items()]
        return cls(rois=tuple((str(n), str(s)) for n, s in m["rois"].items()),
                   univariate_p=m.get("univariate_p", 0.05), selection=str(m.get("selection", "backward")),
                   stay_p=float(m.get("stay_p", 0.05)),
                   categorical=tuple((str(k), str(v)) for k, v in (m.get("categorical") or {}).items()),
                   compare_with=tuple(m.get("compare_with") or [CLINICAL, *names]),
                   tests=tuple(m.get("tests") or _TESTS),
                   readers=tuple((str(r), (str(c[0]), str(c[1]))) for r, c in (m.get("readers") or {}).items()),
                   reader_set=m.get("reader_set"))


def spec_problems(p: Any) -> list[str]:
    """Problems of the ``model`` section itself (no data needed), four-part lines."""
    m = p.data.get("model") or {}
    problems = []
    for key in sorted(set(m) - set(_KEYS)):
        problems.append(f"model.{key}: unknown key; expected one of {', '.join(_KEYS)}; got {key!r}."
                        f"{did_you_mean(key, _KEYS)} Rename or remove it.")
    if m.get("kind") != MODEL_KIND:
        problems.append(f"model.kind: expected {MODEL_KIND!r}; got {m.get('kind')!r}. Use {MODEL_KIND}.")
    rois = m.get("rois")
    if not isinstance(rois, dict) or not rois:
        problems.append("model.rois: expected a mapping {score name: sequence} with at least one ROI; got "
                        f"{rois!r}. Write e.g. rois: {{tumour_score: US_TUMOR}}.")
    else:
        for name, seq in rois.items():
            if seq not in p.sequences:
                problems.append(f"model.rois.{name}: expected one of the protocol's sequences "
                                f"({', '.join(p.sequences)}); got {seq!r}.{did_you_mean(str(seq), p.sequences)} "
                                "Fix the sequence name.")
    if m.get("selection", "backward") not in ("none", "backward"):
        problems.append(f"model.selection: expected none or backward; got {m.get('selection')!r}. Use one of them.")
    for key in ("univariate_p", "stay_p"):
        v = m.get(key, 0.05)
        if v is not None and not (isinstance(v, (int, float)) and 0 < v <= 1):
            problems.append(f"model.{key}: expected a p-value in (0, 1]; got {v!r}. Use e.g. 0.05.")
    if m.get("risk_cutoff", "youden") != "youden":
        problems.append(f"model.risk_cutoff: expected youden; got {m.get('risk_cutoff')!r}. Use youden.")
    known = [CLINICAL, *(rois or {})]
    for name in m.get("compare_with") or []:
        if name not in known:
            problems.append(f"model.compare_with: expected names among {', '.join(known)}; got {name!r}."
                            f"{did_you_mean(str(name), known)} Fix the name.")
    for t in m.get("tests") or []:
        if t not in _TESTS:
            problems.append(f"model.tests: expected among {', '.join(_TESTS)}; got {t!r}."
                            f"{did_you_mean(str(t), _TESTS)} Fix the name.")
    for cat in [c for c in (m.get("categorical") or {}) if c not in p.clinical_variables]:
        problems.append(f"model.categorical.{cat}: expected one of clinical.variables "
                        f"({capped(list(p.clinical_variables))}); got {cat!r}."
                        f"{did_you_mean(str(cat), list(p.clinical_variables))} Fix the name.")
    readers = m.get("readers") or {}
    for reader, cols in readers.items():
        if not (isinstance(cols, list) and len(cols) == 2):
            problems.append(f"model.readers.{reader}: expected [call without, call with] column names; got "
                            f"{cols!r}. Name the two columns.")
    sets = [vs.name for vs in p.validation_sets]
    if readers and m.get("reader_set") not in sets:
        problems.append(f"model.reader_set: expected one of the validation sets ({', '.join(sets)}); got "
                        f"{m.get('reader_set')!r}.{did_you_mean(str(m.get('reader_set')), sets)} Fix the name.")
    return problems


def model_problems(p: Any, clinical: pd.DataFrame | None) -> list[str]:
    """Everything the ``model`` section needs, checked before any work (for ``check_protocol``)."""
    problems = spec_problems(p)
    if clinical is None or problems:
        return problems
    m = p.data["model"]
    for reader, cols in (m.get("readers") or {}).items():
        absent = [c for c in cols if c not in clinical.columns]
        if absent:
            problems.append(f"clinical table: reader {reader}: expected the call columns {capped(cols)}; "
                            f"missing {capped(absent)}.{did_you_mean(absent[0], [str(c) for c in clinical.columns])} "
                            "Add the readers' calls, rename them, or drop model.readers in a protocol copy.")
    for col, ref in (m.get("categorical") or {}).items():
        if col in clinical.columns:
            levels = sorted({str(v) for v in clinical[col].dropna()})
            if str(ref) not in levels:
                problems.append(f"model.categorical.{col}: expected a reference level among {capped(levels)}; "
                                f"got {ref!r}.{did_you_mean(str(ref), levels)} Use an observed level.")
    return problems


def roi_columns(columns: Any, sequence: str) -> list[str]:
    """The wide columns of one ROI (``<sequence>__<feature>``), in table order."""
    prefix = f"{sequence}{C.WIDE_SEP}"
    return [str(c) for c in columns if str(c).startswith(prefix)]


class ROIScore(BaseEstimator):
    """One ROI's score: the protocol's selection chain, then the LASSO's linear predictor.

    Args:
        name: The score's name (``tumour_score``).
        sequence: The ROI's sequence; its ``<sequence>__*`` columns are used.
        selection: A :class:`~alnm_ray.select.config.SelectionConfig` ending in
            ``lasso_logistic`` (log-odds score) or ``lasso`` (squared error).
        reader_table: Readers' ratings for the ICC filter (None without ICC).
        seed: Seed of the stochastic steps.

    Attributes:
        columns_: The ROI's input columns.
        pipeline_: The fitted selection pipeline.
        score_: The :class:`~alnm_ray.stats.scores.LinearScore` over the z-scored LASSO features.
        raw_: ``{feature: (mean, sd)}`` of the z-score of each score feature (training rows).
        fallback_: Set when LASSO kept no feature at lambda_min: the point of the
            path with a non-zero coefficient and the lowest CV deviance (logistic
            LASSO) or the first such point (squared-error LASSO) gives the score.
    """

    def __init__(self, name: str, sequence: str, selection: Any, reader_table: Any = None,
                 seed: int = 0) -> None:
        self.name = name
        self.sequence = sequence
        self.selection = selection
        self.reader_table = reader_table
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Any) -> ROIScore:
        """Fit the selection chain and the score on the training rows ``X`` (wide table)."""
        from alnm_ray.select.columns import kinds_of
        from alnm_ray.select.pipeline import build_selection_pipeline
        from alnm_ray.stats.scores import LinearScore

        last = self.selection.steps[-1] if self.selection.steps else None
        if last not in SCORE_STEPS:
            raise ConfigError(f"{self.name}: selection steps: expected a chain ending in lasso_logistic or lasso "
                              f"(the score is the LASSO's linear predictor); got {list(self.selection.steps)}. "
                              "End the steps with lasso_logistic (log-odds Rad-score).")
        cols = roi_columns(X.columns, self.sequence)
        if not cols:
            raise SchemaMismatchError(f"{self.name}: expected feature columns {self.sequence}__*; found none "
                                      f"among {capped(sorted(map(str, X.columns)))}. Extract/embed the "
                                      f"{self.sequence} ROI first.")
        self.columns_ = cols
        pipe = build_selection_pipeline(self.selection, kinds=kinds_of(cols), seed=self.seed)
        # The readers' rows are data of the ICC step's fit (step__param routing of the Pipeline).
        icc = {"icc__reader_table": self.reader_table} if "icc" in pipe.named_steps else {}
        pipe.fit(X[cols], np.asarray(y, dtype=int), **icc)
        self.pipeline_ = pipe
        lasso = pipe.named_steps[last]
        self.fallback_ = None
        est: Any = lasso
        if not np.any(np.asarray(lasso.coef_) != 0):
            nz = np.flatnonzero(np.any(lasso.coef_path_ != 0, axis=0))
            curve = getattr(lasso, "deviance_mean_", None)
            if nz.size and curve is not None:  # the best CV deviance among points that keep a feature
                j = int(nz[np.argmin(np.asarray(curve)[nz])])
                how = "the non-empty point with the lowest CV deviance"
            elif nz.size:  # the first lambda at which a feature enters the path
                j, how = int(nz[0]), "the path's first non-zero point"
            if nz.size:
                est = _Coefs(lasso.coef_path_[:, j], lasso.feature_names_in_, lasso, j)
                self.fallback_ = (f"LASSO kept no feature at lambda_min; {how} "
                                  f"(lambda {lasso.alphas_[j]:.4g}) gives the score")
        self.score_ = LinearScore.from_estimator(est, name=self.name,
                                                 feature_names=[str(c) for c in lasso.feature_names_in_])
        if not self.score_.feature_names:
            raise ConfigError(f"{self.name}: expected LASSO to give at least one non-zero coefficient; got "
                              "none along the whole path. Check the ROI's features (constant?).")
        zs = pipe.named_steps.get("zscore")
        self.raw_ = {}
        if zs is not None:
            kept = [str(c) for c in zs.feature_names_in_ if str(c) not in set(zs.constant_features_)]
            where = {c: i for i, c in enumerate(kept)}
            for f in self.score_.feature_names:
                self.raw_[f] = (float(zs.mean_[where[f]]), float(zs.scale_[where[f]]))
        return self

    def _check(self) -> None:
        if not hasattr(self, "score_"):
            raise NotFittedError(f"ROIScore {getattr(self, 'name', '')}: not fitted; expected fit(X, y) on the "
                                 "training rows first. Call fit.")

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """The score of every row of ``X`` (raw wide features), shape ``(n,)``."""
        self._check()
        Z = self.raw_features(X)
        return self.score_.score(Z)

    def raw_features(self, X: pd.DataFrame) -> pd.DataFrame:
        """The score's features, z-scored with the training mean/SD, from raw ``X``."""
        self._check()
        absent = [f for f in self.score_.feature_names if f not in X.columns]
        if absent:
            raise SchemaMismatchError(f"{self.name}: X: expected the score's features; missing {capped(absent)}. "
                                      "Pass the same feature tables the score was built on.")
        out = pd.DataFrame(index=X.index)
        for f in self.score_.feature_names:
            m, s = self.raw_.get(f, (0.0, 1.0))
            out[f] = (X[f].to_numpy(float) - m) / s
        return out

    def to_dict(self) -> dict[str, Any]:
        """The score's formula with each feature's training mean and SD (JSON-ready)."""
        self._check()
        doc = self.score_.to_dict()
        for item in doc["features"]:
            item["mean"], item["sd"] = self.raw_.get(item["name"], (0.0, 1.0))
        doc.update({"sequence": self.sequence, "fallback": self.fallback_,
                    "input_features": len(self.columns_)})
        return doc


@dataclass
class _Coefs:
    """Coefficients at one point of a LASSO path.

    The logistic LASSO records its intercept along the path; the squared-error
    one has z-scored inputs, so its intercept is the label mean everywhere.
    """

    coef_: np.ndarray
    feature_names_in_: Any
    lasso: Any
    j: int

    @property
    def intercept_(self) -> float:
        path = getattr(self.lasso, "intercept_path_", None)
        return float(self.lasso.intercept_ if path is None else path[self.j])

    @property
    def score_scale_(self) -> str | None:
        return getattr(self.lasso, "score_scale_", None)


class ScoreNomogramModel(BaseEstimator):
    """Per-ROI scores + stepwise clinical-radiomics logistic model + nomogram (Zhang 2025).

    Args:
        spec: The :class:`ScoreModelSpec`.
        selection: The protocol's :class:`~alnm_ray.select.config.SelectionConfig`.
        clinical_variables: The clinical-ultrasonic candidate columns.
        reader_table: Readers' ratings for the ICC filter.
        seed: Seed of the selection.

    Attributes:
        rois_: ``{score name: fitted ROIScore}``.
        model_: The clinical-radiomics :class:`~alnm_ray.stats.logistic.ClinicalLogisticModel`.
        clinical_model_: The clinical model (same method, clinical factors only).
        single_: ``{score name: univariate logistic model of that score}``.
        nomogram_: The :class:`~alnm_ray.stats.nomogram.Nomogram` of ``model_``.
        risk_: :class:`~alnm_ray.stats.nomogram.NomoRiskGroups` fitted on the training Nomo-scores.
        thresholds_: ``{model: training-set Youden threshold on its probability}``.
        clinical_used_: Clinical candidates with at least two values on the training rows.
        dropped_: ``{column: reason}`` for clinical columns left out.
    """

    def __init__(self, spec: ScoreModelSpec, selection: Any, clinical_variables: tuple[str, ...],
                 reader_table: Any = None, seed: int = 0) -> None:
        self.spec = spec
        self.selection = selection
        self.clinical_variables = clinical_variables
        self.reader_table = reader_table
        self.seed = seed

    def fit(self, X: pd.DataFrame, y: Any) -> ScoreNomogramModel:
        """Fit everything on the training rows ``X`` (wide imaging features + clinical columns).

        Raises:
            SchemaMismatchError: Missing columns.
            LogisticFitError: A logistic fit fails (separation with no fallback).
        """
        import warnings

        from alnm_ray.model.metrics import youden_threshold
        from alnm_ray.stats.logistic import ClinicalLogisticModel
        from alnm_ray.stats.nomogram import Nomogram, NomoRiskGroups

        yy = np.asarray(y, dtype=int)
        clin, self.dropped_ = [], {}
        for c in (c for c in self.clinical_variables if c in X.columns):
            if X[c].astype(str).nunique() < 2:  # e.g. a rare level absent from a small training set
                self.dropped_[c] = "one value on the training rows; not a candidate"
            else:
                clin.append(c)
        self.clinical_used_ = clin
        params = self.spec.logistic_params(clin)
        params["categorical"] = {c: r for c, r in params["categorical"].items()
                                 if r in set(X[c].astype(str))}
        self.rois_ = {name: ROIScore(name, seq, self.selection, self.reader_table, self.seed).fit(X, yy)
                      for name, seq in self.spec.rois}
        D = self.design(X)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # fallbacks are recorded on the models (excluded_, fallback_)
            self.clinical_model_ = ClinicalLogisticModel(**params).fit(D[clin], yy)
            self.model_ = ClinicalLogisticModel(**params).fit(D, yy)
            self.single_ = {s: ClinicalLogisticModel(univariate_p=None, selection="none").fit(D[[s]], yy)
                            for s in self.spec.score_names}
        self.nomogram_ = Nomogram.from_model(self.model_)
        self.risk_ = NomoRiskGroups(self.nomogram_).fit(self.nomogram_.score(D), yy)
        probs = self.predict_models(X)
        self.thresholds_ = {k: float(youden_threshold(yy, v)) for k, v in probs.items()}
        self.thresholds_[CLINICAL_RADIOMICS] = float(self.risk_.cutoff_probability_)
        return self

    def _check(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("ScoreNomogramModel: not fitted; expected fit(X, y) on the training rows "
                                 "first. Call fit.")

    def design(self, X: pd.DataFrame) -> pd.DataFrame:
        """Clinical columns plus one column per score (the logistic models' candidates)."""
        out = X[list(self.clinical_used_)].copy()
        for name, roi in self.rois_.items():
            out[name] = roi.transform(X)
        return out

    def predict_models(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """P(ALNM) of every model: each score's univariate model, clinical, clinical-radiomics."""
        if not hasattr(self, "rois_"):
            self._check()
        D = self.design(X)
        out = {s: m.predict_proba(D[[s]])[:, 1] for s, m in self.single_.items()}
        out[CLINICAL] = self.clinical_model_.predict_proba(D)[:, 1]
        out[CLINICAL_RADIOMICS] = self.model_.predict_proba(D)[:, 1]
        return out

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``[P(y=0), P(y=1)]`` of the clinical-radiomics model, shape ``(n, 2)``."""
        self._check()
        p = self.model_.predict_proba(self.design(X))[:, 1]
        return np.column_stack([1 - p, p])

    def nomo_scores(self, X: pd.DataFrame) -> pd.DataFrame:
        """Points per predictor, the Nomo-score (``total``), probability and risk group per row."""
        self._check()
        pts = self.nomogram_.points(self.design(X))
        pts["probability"] = self.nomogram_.probability_from_points(pts["total"].to_numpy())
        pts["risk_group"] = self.risk_.predict(pts["total"].to_numpy())
        return pts

    def formulas(self, digits: int = 4) -> dict[str, str]:
        """The printed formulas: each score, the clinical-radiomics and the clinical model."""
        self._check()
        out = {name: roi.score_.formula(digits) for name, roi in self.rois_.items()}
        out[CLINICAL_RADIOMICS] = self.model_.formula(digits)
        out[CLINICAL] = self.clinical_model_.formula(digits)
        return out

    def to_document(self) -> dict[str, Any]:
        """The fitted model as JSON-ready data (scored by :func:`score_from_document`)."""
        self._check()
        terms = []
        for t in self.model_.kept_terms_:
            terms.append({"name": t.name, "kind": t.kind, "levels": [str(v) for v in t.levels],
                          "columns": list(t.columns),
                          "coefficients": [float(self.model_.coef_[c]) for c in t.columns]})
        return {"format": DOCUMENT_FORMAT, "scores": {n: r.to_dict() for n, r in self.rois_.items()},
                "clinical_radiomics": {"intercept": float(self.model_.intercept_), "terms": terms,
                                       "formula": self.model_.formula(6)},
                "nomogram": {"intercept": self.nomogram_.intercept,
                             "axes": [{"name": a.name, "kind": a.kind, "values": [_plain(v) for v in a.values],
                                       "effects": list(a.effects)} for a in self.nomogram_.axes]},
                "risk_cutoff": {"points": float(self.risk_.cutoff_points_),
                                "probability": float(self.risk_.cutoff_probability_)},
                "threshold": float(self.thresholds_[CLINICAL_RADIOMICS])}


def _plain(v: Any) -> Any:
    return v.item() if hasattr(v, "item") else v


def score_from_document(doc: Mapping[str, Any], X: pd.DataFrame) -> pd.DataFrame:
    """Score raw rows with a :meth:`ScoreNomogramModel.to_document` document.

    Args:
        doc: The document (e.g. the bundle's ``model.json``).
        X: Raw wide features (``<sequence>__<feature>``) and the model's clinical columns.

    Returns:
        One row per patient: each score, ``probability`` (the clinical-radiomics
        model's), ``nomo_score`` (total nomogram points) and ``risk_group``
        (``high`` where the Nomo-score reaches the training-set cut-off) --
        the same numbers as :meth:`ScoreNomogramModel.nomo_scores`.

    Raises:
        ConfigError: Not a score-nomogram document.
        SchemaMismatchError: Missing columns or unseen levels.
    """
    from scipy.special import expit

    if doc.get("format") != DOCUMENT_FORMAT:
        raise ConfigError(f"score-nomogram document: expected format {DOCUMENT_FORMAT!r}; got "
                          f"{doc.get('format')!r}. Load the model.json of a score_nomogram bundle.")
    out = pd.DataFrame(index=X.index)
    for name, s in doc["scores"].items():
        absent = [f["name"] for f in s["features"] if f["name"] not in X.columns]
        if absent:
            raise SchemaMismatchError(f"{name}: expected features {capped(absent)}; missing. Extract and embed "
                                      "the ROI with the protocol's settings.")
        val = np.full(len(X), float(s["intercept"]))
        for f in s["features"]:
            val += f["coefficient"] * (X[f["name"]].to_numpy(float) - f["mean"]) / f["sd"]
        out[name] = val
    model = doc["clinical_radiomics"]
    lp = np.full(len(X), float(model["intercept"]))
    for t in model["terms"]:
        col = out[t["name"]] if t["name"] in out else X.get(t["name"])
        if col is None:
            raise SchemaMismatchError(f"clinical-radiomics model: expected column {t['name']!r}; missing. "
                                      "Pass the clinical table's columns.")
        if t["kind"] == "continuous":
            lp += t["coefficients"][0] * np.asarray(col, dtype=float)
            continue
        values = [str(v) for v in col]
        unseen = sorted(set(values) - set(t["levels"]))
        if unseen:
            raise SchemaMismatchError(f"{t['name']}: expected levels {capped(t['levels'])}; found "
                                      f"{capped(unseen)}. Recode to the training levels.")
        for level, b in zip(t["levels"][1:], t["coefficients"]):
            lp += b * np.array([v == level for v in values], dtype=float)
    out["probability"] = expit(lp)
    from alnm_ray.stats.nomogram import Nomogram, NomogramAxis

    nomo = doc["nomogram"]
    nomogram = Nomogram(float(nomo["intercept"]), tuple(
        NomogramAxis(a["name"], a["kind"], tuple(a["values"]), tuple(float(e) for e in a["effects"]))
        for a in nomo["axes"]))
    design = pd.DataFrame({a.name: (out[a.name] if a.name in out else X[a.name]) for a in nomogram.axes},
                          index=X.index)
    out["nomo_score"] = nomogram.points(design)["total"].to_numpy(float)
    out["risk_group"] = np.where(out["nomo_score"].to_numpy(float) >= float(doc["risk_cutoff"]["points"]),
                                 "high", "low")
    return out

