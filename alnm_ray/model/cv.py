"""Repeated stratified K-fold CV over feature sets x classifiers, selection shared per fold.

For every (feature set, repeat, fold) the selection pipeline is fitted ONCE on
the training patients and its output is shared by all classifiers; post-fusion
sets reuse their modalities' outer selections.  Each fold is seeded from
``(seed, repeat, fold)`` only, so a subset of repeats and folds
(``repeat_indices``, ``fold_indices``: one Ray Tune trial) reproduces exactly
the rows of the full run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import pandas as pd

from alnm_ray.exceptions import ConfigError
from alnm_ray.model.classifiers import CLASSIFIER_NAMES
from alnm_ray.model.fitting import OOF_COLUMNS, evaluate_classifiers, fit_selection, prediction_frame
from alnm_ray.model.fusion import evaluate_fusion_fold
from alnm_ray.model.inputs import (
    align_sets,
    normalise_classifiers,
    prepare_metadata,
    prepare_reader_table,
)
from alnm_ray.model.splits import derive_seed, repeated_kfold
from alnm_ray.progress import NullProgress, Progress
from alnm_ray.select.pipeline import resolve_config

logger = logging.getLogger(__name__)

#: Columns of the results table, in order.
RESULT_COLUMNS: tuple[str, ...] = (
    "feature_set", "classifier", "repeat", "fold", "auc", "accuracy", "sensitivity",
    "specificity", "ppv", "npv", "f1", "threshold", "train_auc", "n_train", "n_test",
    "n_selected", "selected_features", "fallback", "select_seconds", "select_step_seconds",
    "fit_seconds", "selection_seed", "classifier_warnings", "params", "selection_config",
    "selection_hash")


class CVOutput(NamedTuple):
    """``(results, oof)``: one row per feature_set x classifier x repeat x fold, and
    one row per feature_set x classifier x repeat x test patient."""

    results: pd.DataFrame
    oof: pd.DataFrame


def check_fusion(fusion: Mapping[str, Sequence[str]] | None, sets: Sequence[str]
                 ) -> dict[str, list[str]]:
    """Validate ``{fusion_name: [component set names]}`` against the available sets."""
    out = {}
    for name, parts in (fusion or {}).items():
        parts = list(parts)
        missing = [p for p in parts if p not in sets]
        if len(parts) < 2 or missing:
            raise ConfigError(
                f"fusion {name!r}: expected at least two component feature sets among "
                f"{sorted(sets)}; got {parts} (unknown: {missing}). Add the components to "
                "X_by_set.")
        if name in sets:
            raise ConfigError(f"fusion {name!r}: the name is also a feature set; pick another "
                              "name (e.g. 'post:clinical+radiomics+deep').")
        out[str(name)] = parts
    return out


def run_cv(X_by_set: Mapping[str, pd.DataFrame], y: Any,
           classifiers: Sequence[str] | Mapping[str, Mapping[str, Any]] = CLASSIFIER_NAMES,
           selection_config: Any = "guo2024", repeats: int = 20, folds: int = 5, seed: int = 0,
           repeat_indices: Sequence[int] | None = None, *, reader_table: Any = None,
           fusion: Mapping[str, Sequence[str]] | None = None, fusion_inner_folds: int = 5,
           fusion_meta_params: Mapping[str, Any] | None = None,
           feature_sets: Sequence[str] | None = None, quiet: bool = True,
           centers: Any = None, covariates: Any = None,
           fold_indices: Sequence[int] | None = None) -> CVOutput:
    """Repeated stratified K-fold CV with in-fold selection shared across classifiers.

    Args:
        X_by_set: Feature set name -> wide DataFrame (index = patient ids; all
            sets hold the same patients).  Build with
            :func:`alnm_ray.model.feature_sets.assemble_feature_sets`.
        y: 0/1 labels: a Series indexed by patient id (or an array in row order).
        classifiers: Names, or ``{name: params}`` overriding defaults.
        selection_config: :class:`~alnm_ray.select.config.SelectionConfig`,
            preset name or dict.
        repeats, folds: CV design (20 x 5 in Guo 2024).
        seed: Base seed (splits, selection and classifier seeds derive from it).
        repeat_indices: Run only these repeats (same rows as in the full run).
        reader_table: Long radiomics table with readers' rows (ICC); required
            when the config has an ICC threshold and a set holds radiomics.
        fusion: Post-fusion sets ``{name: [component set names]}``.
        fusion_inner_folds: Inner folds producing the OOF probabilities.
        fusion_meta_params: Overrides of the meta SVM.
        feature_sets: Which plain sets of ``X_by_set`` to evaluate (default all);
            fusion components are fitted regardless.
        quiet: No progress line on stderr.
        centers: Centre per patient (Series indexed by patient id, or an array
            in ``y``'s order); required when the config harmonises
            (``harmonize="combat"``: learned on each training fold, applied to
            its test rows).
        covariates: Frame indexed by patient id with the config's
            ``combat_covariates``.
        fold_indices: Run only these folds of each repeat (same rows as in
            the full run).

    Returns:
        :class:`CVOutput` ``(results, oof)`` -- see :data:`RESULT_COLUMNS`,
        :data:`OOF_COLUMNS`.  ``selected_features`` and ``fallback`` are JSON
        lists; ``select_step_seconds`` a JSON object; times are wall seconds.

    Raises:
        ConfigError, SchemaMismatchError: On inconsistent inputs (before any fit).

    Example:
        >>> # out = run_cv({"radiomics": Xr}, y, ["lr", "svm"], "guo2024", reader_table=readers)
        >>> # out.results.groupby(["feature_set", "classifier"]).auc.mean()
    """
    cfg = resolve_config(selection_config)
    clfs = normalise_classifiers(classifiers)
    sets, ys = align_sets(X_by_set, y)
    fus = check_fusion(fusion, list(sets))
    reader_table = prepare_reader_table(cfg, sets, reader_table)
    metadata = prepare_metadata(cfg, ys.index, centers, covariates)
    plain = list(sets) if feature_sets is None else list(feature_sets)
    unknown = [s for s in plain if s not in sets]
    if unknown:
        raise ConfigError(f"feature_sets: {unknown} not in X_by_set ({sorted(sets)}).")
    needed = list(dict.fromkeys(plain + [p for parts in fus.values() for p in parts]))
    yv = ys.to_numpy()
    splits = list(repeated_kfold(yv, repeats, folds, seed, repeat_indices=repeat_indices,
                                 fold_indices=fold_indices))
    cfg_json = json.dumps(cfg.to_dict(), sort_keys=True)
    cfg_hash = cfg.config_hash()
    rows: list[dict[str, Any]] = []
    oof_parts: list[pd.DataFrame] = []
    bar = NullProgress() if quiet else Progress(len(splits) * (len(plain) + len(fus)), "cv folds")
    with bar:
        for r, f, tr, te in splits:
            s_seed = derive_seed(seed, r, f)
            selections = {}
            for name in needed:
                X = sets[name]
                selections[name] = fit_selection(X.iloc[tr], yv[tr], cfg,
                                                 reader_table=reader_table, seed=s_seed,
                                                 metadata=metadata)
            for name in plain:
                X, sel = sets[name], selections[name]
                fold_rows, probs, _ = evaluate_classifiers(
                    sel, X.iloc[tr], yv[tr], X.iloc[te], yv[te], clfs, s_seed)
                common = {"feature_set": name, "repeat": r, "fold": f, "n_train": len(tr),
                          "n_test": len(te), "n_selected": len(sel.selected),
                          "selected_features": json.dumps(sel.selected),
                          "fallback": json.dumps(sel.fallbacks),
                          "select_seconds": sel.seconds,
                          "select_step_seconds": json.dumps(
                              {k: round(v, 6) for k, v in sel.step_seconds.items()}),
                          "selection_seed": s_seed, "selection_config": cfg_json,
                          "selection_hash": cfg_hash}
                for row in fold_rows:
                    rows.append({**common, **row})
                    oof_parts.append(prediction_frame(name, row["classifier"], r, f, X.index[te],
                                                      yv[te], probs[row["classifier"]],
                                                      row["threshold"]))
                bar.update(1)
            for name, parts in fus.items():
                rows_f, oof_f, _ = evaluate_fusion_fold(
                    name, parts, sets, selections, yv, tr, te, r, f, clfs, cfg, reader_table,
                    fusion_inner_folds, fusion_meta_params, s_seed, metadata=metadata)
                for row in rows_f:
                    rows.append({**row, "selection_seed": s_seed, "selection_config": cfg_json,
                                 "selection_hash": cfg_hash})
                oof_parts += oof_f
                bar.update(1)
    results = pd.DataFrame(rows).reindex(columns=list(RESULT_COLUMNS))
    oof = (pd.concat(oof_parts, ignore_index=True) if oof_parts
           else pd.DataFrame(columns=list(OOF_COLUMNS)))
    logger.info("run_cv: %d result rows, %d folds with a fallback", len(results),
                int((results["fallback"] != "[]").sum()))
    return CVOutput(results, oof)
