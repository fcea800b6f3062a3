"""Checking the engines' inputs once, before any fit.

:func:`~alnm_ray.model.cv.run_cv`, :func:`~alnm_ray.model.holdout.run_holdout`,
:func:`~alnm_ray.model.fusion.fit_post_fusion` and the tune trials call these
at their entry, so a bad label, a patient missing from one feature set or an
unknown classifier name fails before the first selection is fitted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray._validation import capped, look_up_option
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model.classifiers import CLASSIFIERS
from alnm_ray.select.columns import kinds_of
from alnm_ray.select.config import SelectionConfig


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
            look_up_option("classifiers", name, CLASSIFIERS)
        out[str(name)] = dict(params or {})
    if not out:
        raise ConfigError("classifiers: expected at least one classifier name (e.g. 'lr'); got none.")
    return out


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


def prepare_metadata(cfg: SelectionConfig, index: pd.Index, centers: Any = None,
                     covariates: Any = None) -> dict[str, Any]:
    """Per-patient metadata of the selection steps, checked once: ``{"batch", "covariates"}``.

    Only a config with ``harmonize`` set needs it; otherwise the result is empty
    (centres given anyway are not used by any step).

    Args:
        cfg: The selection configuration.
        index: Patient ids of every row the engine will fit or transform.
        centers: Centre per patient: a Series indexed by patient id, or an
            array in ``index``'s order.
        covariates: Frame indexed by patient id holding ``cfg.combat_covariates``.

    Returns:
        ``{}``, or ``{"batch": Series, "covariates": DataFrame | None}`` indexed by ``index``.

    Raises:
        ConfigError: Harmonisation is on and no centres (or no covariates) are given.
        SchemaMismatchError: A patient without a centre or a covariate value.

    Example:
        >>> cfg = SelectionConfig.preset("liu2025").replace(harmonize="combat")
        >>> meta = prepare_metadata(cfg, pd.Index(["p1", "p2"]), ["A", "B"])
        >>> meta["batch"].to_dict(), meta["covariates"]
        ({'p1': 'A', 'p2': 'B'}, None)
    """
    if cfg.harmonize is None:
        return {}
    ids = pd.Index([str(i) for i in index])
    if centers is None:
        raise ConfigError(
            f"centers: harmonize={cfg.harmonize!r} needs each patient's centre; got None. Pass "
            "centers=<Series indexed by patient id> (a manifest 'center' column), or set "
            "harmonize to None.")
    if isinstance(centers, pd.Series):
        c = centers.copy()
        c.index = c.index.astype(str)
        missing = ids.difference(c.index[c.notna()])
        if len(missing):
            raise SchemaMismatchError(
                f"centers: {len(missing)} patient(s) have no centre ({capped(sorted(missing))}); "
                f"expected one for every patient (harmonize={cfg.harmonize!r}). Fill the "
                "manifest's 'center' column.")
        c = c.loc[~c.index.duplicated()].reindex(ids)
    else:
        arr = np.asarray(centers).ravel()
        if arr.shape[0] != len(ids):
            raise SchemaMismatchError(
                f"centers: expected {len(ids)} values (one per patient); got {arr.shape[0]}. "
                "Pass a Series indexed by patient id.")
        c = pd.Series(arr, index=ids)
    cov = None
    if cfg.combat_covariates:
        names = list(cfg.combat_covariates)
        if covariates is None:
            raise ConfigError(
                f"covariates: combat_covariates={names} needs their values per patient; got "
                "None. Pass covariates=<frame indexed by patient id with those columns>, or set "
                "combat_covariates to [].")
        cov = pd.DataFrame(covariates).copy()
        cov.index = cov.index.astype(str)
        absent = [n for n in names if n not in cov.columns]
        if absent:
            raise SchemaMismatchError(
                f"covariates: missing column(s) {capped(sorted(absent))}; expected {names} "
                "(combat_covariates). Add them to the clinical table.")
        missing = ids.difference(cov.index)
        if len(missing):
            raise SchemaMismatchError(
                f"covariates: {len(missing)} patient(s) have no row ({capped(sorted(missing))}); "
                "expected every patient's covariates. Add them to the clinical table.")
        cov = cov.loc[~cov.index.duplicated(), names].reindex(ids)
    return {"batch": c.astype(str), "covariates": cov}
