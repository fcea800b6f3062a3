"""Shared fold machinery: fit the selection once, then every classifier on its output.

Used by :mod:`~alnm_ray.model.cv`, :mod:`~alnm_ray.model.holdout` and
:mod:`~alnm_ray.model.fusion`.  Nothing here looks at test labels except the
metric computation at the very end.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError, FallbackWarning, SchemaMismatchError
from alnm_ray.model.classifiers import CLASSIFIERS, make_classifier
from alnm_ray.model.metrics import binary_metrics, youden_threshold
from alnm_ray.select.columns import kinds_of
from alnm_ray.select.config import SelectionConfig
from alnm_ray.select.encode import needs_encoding
from alnm_ray.select.pipeline import build_selection_pipeline
from alnm_ray.select.routing import collect_fallbacks

logger = logging.getLogger(__name__)


@dataclass
class FoldSelection:
    """A selection pipeline fitted on one training fold, with its output.

    Attributes:
        pipeline: The fitted ``imblearn`` Pipeline.
        X_train: Transformed (resampled) training rows the classifiers train on.
        y_train: Their labels (SMOTE rows included).
        selected: Output feature names.
        fallbacks: Fallback texts recorded by the steps.
        step_seconds: Wall seconds per step.
        seconds: Total wall seconds.
    """

    pipeline: Any
    X_train: pd.DataFrame
    y_train: np.ndarray
    selected: list[str]
    fallbacks: list[str] = field(default_factory=list)
    step_seconds: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        """Apply the fitted steps to new rows (SMOTE is skipped)."""
        return self.pipeline.transform(X)


def fit_selection(X: pd.DataFrame, y: np.ndarray, config: SelectionConfig, *,
                  reader_table: Any = None, seed: int = 0) -> FoldSelection:
    """Fit the configured selection pipeline on training rows, step by step (timed).

    Args:
        X: Training rows (patients x features), index = patient ids.
        y: 0/1 labels, shape (n,).
        config: Selection configuration.
        reader_table: Long radiomics table with readers' rows (for ICC).
        seed: Seed of the stochastic steps.

    Returns:
        A :class:`FoldSelection`.
    """
    pipe = build_selection_pipeline(config, reader_table=reader_table, kinds=kinds_of(X.columns),
                                    encode=needs_encoding(X), seed=seed)
    Xt: Any = X
    yt = np.asarray(y).astype(int)
    times: dict[str, float] = {}
    start = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", FallbackWarning)
        for name, step in pipe.steps:
            t0 = time.perf_counter()
            if hasattr(step, "fit_resample"):
                Xt, yt = step.fit_resample(Xt, yt)
            else:
                Xt = step.fit_transform(Xt, yt)
            times[name] = time.perf_counter() - t0
    for w in caught:  # fallbacks are recorded on the steps; re-emit anything else
        if not issubclass(w.category, FallbackWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    fallbacks = [text for _, step in pipe.steps for text in collect_fallbacks(step)]
    return FoldSelection(pipe, Xt, np.asarray(yt).astype(int), [str(c) for c in Xt.columns],
                         fallbacks, times, time.perf_counter() - start)


def prepare_reader_table(cfg: SelectionConfig, sets: Mapping[str, pd.DataFrame],
                         reader_table: Any) -> Any:
    """Pivot the reader table once (or None); fail early when ICC needs it and it is absent.

    Raises:
        ConfigError: ICC is configured, a set holds radiomics columns, and no table.
    """
    if reader_table is not None:
        from alnm_ray.select.icc import as_reader_ratings

        return as_reader_ratings(reader_table)
    if cfg.icc_threshold is not None:
        needing = sorted(n for n, X in sets.items() if "radiomics" in kinds_of(X.columns))
        if needing:
            raise ConfigError(
                f"reader_table: the ICC filter (icc_threshold={cfg.icc_threshold}) needs the "
                f"readers' rows for feature set(s) {needing}; got None. Pass reader_table=<long "
                "radiomics table with readers A, B, A2> or set icc_threshold=None.")
    return None


def normalise_classifiers(classifiers: Sequence[str] | Mapping[str, Mapping[str, Any]] | str
                          ) -> dict[str, dict[str, Any]]:
    """``["lr", "svm"]`` or ``{"svm": {"C": 2}}`` -> ``{name: params}`` (names validated)."""
    if isinstance(classifiers, str):
        classifiers = [classifiers]
    items = classifiers.items() if isinstance(classifiers, Mapping) else (
        (c, {}) for c in classifiers)
    out = {}
    for name, params in items:
        if name not in CLASSIFIERS:
            from alnm_ray._validation import look_up_option

            look_up_option("classifiers", name, CLASSIFIERS)
        out[str(name)] = dict(params or {})
    if not out:
        raise ConfigError("classifiers: expected at least one classifier name (e.g. 'lr'); got none.")
    return out


def fit_predict(name: str, params: Mapping[str, Any], seed: int, X_fit: pd.DataFrame,
                y_fit: np.ndarray, X_train: pd.DataFrame, X_eval: Sequence[pd.DataFrame]
                ) -> tuple[Any, np.ndarray, list[np.ndarray], list[str], float]:
    """Fit one classifier; predict the training rows and each evaluation frame.

    Returns:
        ``(model, p_train, [p_eval...], warning_texts, seconds)``.
    """
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = make_classifier(name, seed=seed, **params)
        model.fit(X_fit.to_numpy(dtype=float), y_fit)
        p_train = model.predict_proba(X_train.to_numpy(dtype=float))[:, 1]
        p_eval = [model.predict_proba(X.to_numpy(dtype=float))[:, 1] for X in X_eval]
    texts = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    return model, p_train, p_eval, texts, time.perf_counter() - t0


def evaluate_classifiers(selection: FoldSelection, X_train: pd.DataFrame, y_train: np.ndarray,
                         X_test: pd.DataFrame, y_test: np.ndarray,
                         classifiers: Mapping[str, Mapping[str, Any]], seed: int,
                         keep_models: bool = False
                         ) -> tuple[list[dict[str, Any]], dict[str, np.ndarray], dict[str, Any]]:
    """Train every classifier on one fold's selection output and score the test rows.

    Returns:
        ``(rows, test_probs, models)``: one metrics dict per classifier
        (see :data:`~alnm_ray.model.metrics.METRICS` plus bookkeeping), the
        test probabilities per classifier, and the fitted classifiers when
        ``keep_models``.
    """
    Xtr = selection.transform(X_train)
    Xte = selection.transform(X_test)
    rows, probs, models = [], {}, {}
    for name, params in classifiers.items():
        model, p_tr, (p_te,), texts, secs = fit_predict(
            name, params, seed, selection.X_train, selection.y_train, Xtr, [Xte])
        thr = youden_threshold(y_train, p_tr)
        row = {"classifier": name, **binary_metrics(y_test, p_te, thr),
               "train_auc": binary_metrics(y_train, p_tr, thr)["auc"],
               "fit_seconds": secs, "classifier_warnings": json.dumps(texts),
               "params": json.dumps(params, sort_keys=True, default=str)}
        rows.append(row)
        probs[name] = p_te
        if keep_models:
            models[name] = (model, thr)
    return rows, probs, models


def align_sets(X_by_set: Mapping[str, pd.DataFrame], y: Any) -> tuple[dict[str, pd.DataFrame],
                                                                       pd.Series]:
    """Check every feature set covers the same patients as ``y``; order rows like ``y``.

    Args:
        X_by_set: Feature set name -> DataFrame (index = patient ids).
        y: Series indexed by patient id, or an array in the row order of the sets.

    Returns:
        ``(sets, y_series)`` with identical row order.

    Raises:
        SchemaMismatchError: On missing/extra patients or non-binary labels.
    """
    if not X_by_set:
        raise ConfigError("X_by_set: expected at least one feature set; got none.")
    first = next(iter(X_by_set.values()))
    if isinstance(y, pd.Series):
        ys = y
    else:
        arr = np.asarray(y).ravel()
        if arr.shape[0] != len(first):
            raise SchemaMismatchError(f"y: expected {len(first)} labels (rows of the feature "
                                      f"sets); got {arr.shape[0]}. Pass y as a Series indexed "
                                      "by patient id.")
        ys = pd.Series(arr, index=first.index)
    if ys.isna().any():
        bad = [str(i) for i in ys.index[ys.isna()]]
        raise SchemaMismatchError(f"y: {len(bad)} patient(s) have no label ({capped(sorted(bad))}); "
                                  "expected a 0/1 label for every patient. Drop unlabelled "
                                  "patients before modelling.")
    if not set(pd.unique(ys)) <= {0, 1}:
        raise SchemaMismatchError(f"y: expected 0/1 labels; got {capped(sorted(map(str, set(pd.unique(ys)))))}.")
    if ys.index.has_duplicates:
        dup = [str(i) for i in ys.index[ys.index.duplicated()]]
        raise SchemaMismatchError(f"y: patient id(s) {capped(sorted(set(dup)))} appear more than "
                                  "once; expected one row per patient. Use store.to_wide().")
    out = {}
    for name, X in X_by_set.items():
        if X.index.has_duplicates:
            raise SchemaMismatchError(
                f"feature set {name!r}: duplicate patient ids in the index; expected one row "
                "per patient. Build the set from a wide per-patient table.")
        missing = ys.index.difference(X.index)
        extra = X.index.difference(ys.index)
        if len(missing) or len(extra):
            raise SchemaMismatchError(
                f"feature set {name!r}: patients differ from y's: {len(missing)} missing "
                f"({capped(sorted(map(str, missing)))}), {len(extra)} extra "
                f"({capped(sorted(map(str, extra)))}); expected the same patients. Assemble all "
                "sets from the same cohort (feature_sets.assemble_feature_sets).")
        out[name] = X.loc[ys.index]
    return out, ys.astype(int)
