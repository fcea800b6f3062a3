"""Hold-out evaluation (the paper's 7:3 protocol) and leave-one-centre-out validation.

Selection and training use the training patients only; the test patients are
touched once, for scoring.  The threshold is Youden's on the training
predictions (see :mod:`alnm_ray.model.metrics`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np
import pandas as pd

from alnm_ray.model.classifiers import CLASSIFIER_NAMES
from alnm_ray.model.cv import check_fusion
from alnm_ray.model.fitted import FittedClassifier, FittedModel
from alnm_ray.model.fitting import evaluate_classifiers, fit_selection, prediction_frame
from alnm_ray.model.fusion import evaluate_fusion_fold
from alnm_ray.model.inputs import (
    align_sets,
    normalise_classifiers,
    prepare_metadata,
    prepare_reader_table,
)
from alnm_ray.model.splits import TEST_SIZE, derive_seed, holdout_split, leave_one_center_out
from alnm_ray.select.pipeline import resolve_config


class HoldoutOutput(NamedTuple):
    """``(results, predictions, models)``; ``models`` maps (feature_set, classifier) to a
    :class:`~alnm_ray.model.fitted.FittedClassifier`: a
    :class:`~alnm_ray.model.fitted.FittedModel` for a plain set, a
    :class:`~alnm_ray.model.fitted.FittedFusion` for a post-fusion set."""

    results: pd.DataFrame
    predictions: pd.DataFrame
    models: dict[tuple[str, ...], FittedClassifier]


def evaluate_split(sets: Mapping[str, pd.DataFrame], yv: np.ndarray, tr: np.ndarray,
                   te: np.ndarray, clfs: Mapping[str, Mapping[str, Any]], cfg: Any, *,
                   fusion: Mapping[str, list[str]], reader_table: Any, seed: int,
                   inner_folds: int = 5, meta_params: Any = None, label: dict[str, Any],
                   metadata: Mapping[str, Any] | None = None
                   ) -> tuple[list[dict[str, Any]], list[pd.DataFrame],
                              dict[tuple[str, ...], FittedClassifier]]:
    """Fit on ``tr``, score ``te`` for every set and classifier (selection shared).

    Args:
        metadata: Per-patient metadata of the selection steps (centres for
            ComBat), indexed by patient id, covering ``tr`` and ``te``; see
            :func:`~alnm_ray.model.inputs.prepare_metadata`.

    Returns:
        ``(rows, predictions, models)``: metrics rows, test prediction frames
        (no repeat/fold columns; ``label``'s columns added), and the fitted
        models by ``(feature_set, classifier)``.
    """
    needed = list(dict.fromkeys(list(sets) + [p for ps in fusion.values() for p in ps]))
    selections = {n: fit_selection(sets[n].iloc[tr], yv[tr], cfg, reader_table=reader_table,
                                   seed=seed, metadata=metadata) for n in needed}
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    models: dict[tuple[str, ...], FittedClassifier] = {}
    for name, X in sets.items():
        sel = selections[name]
        fold_rows, probs, fitted = evaluate_classifiers(
            sel, X.iloc[tr], yv[tr], X.iloc[te], yv[te], clfs, seed, keep_models=True)
        for row in fold_rows:
            clf = row["classifier"]
            rows.append({"feature_set": name, **label, "n_train": len(tr), "n_test": len(te),
                         "n_selected": len(sel.selected),
                         "selected_features": json.dumps(sel.selected),
                         "fallback": json.dumps(sel.fallbacks), **row})
            preds.append(prediction_frame(name, clf, -1, -1, X.index[te], yv[te], probs[clf],
                                          row["threshold"]).drop(columns=["repeat", "fold"])
                         .assign(**label))
            models[(name, clf)] = FittedModel(name, clf, sel.pipeline, fitted[clf].model,
                                              row["threshold"], [str(c) for c in X.columns],
                                              sel.selected, sel.metadata)
    for name, parts in fusion.items():
        rows_f, preds_f, fmodels = evaluate_fusion_fold(name, parts, sets, selections, yv, tr, te,
                                                        -1, -1, clfs, cfg, reader_table,
                                                        inner_folds, meta_params, seed,
                                                        metadata=metadata)
        models.update({(name, clf): m for clf, m in fmodels.items()})
        rows += [{k: v for k, v in r.items() if k not in ("repeat", "fold")} | label
                 for r in rows_f]
        preds += [p.drop(columns=["repeat", "fold"]).assign(**label) for p in preds_f]
    return rows, preds, models


def run_holdout(X_by_set: Mapping[str, pd.DataFrame], y: Any,
                classifiers: Sequence[str] | Mapping[str, Mapping[str, Any]] = CLASSIFIER_NAMES,
                selection_config: Any = "guo2024", *, test_size: float = TEST_SIZE, seed: int = 0,
                train_ids: Sequence[Any] | None = None, test_ids: Sequence[Any] | None = None,
                reader_table: Any = None, fusion: Mapping[str, Sequence[str]] | None = None,
                fusion_inner_folds: int = 5, centers: Any = None,
                covariates: Any = None) -> HoldoutOutput:
    """The paper's protocol: stratified seeded 7:3 split, select + train on train, test once.

    Args:
        X_by_set, y, classifiers, selection_config, reader_table, fusion: As in
            :func:`alnm_ray.model.cv.run_cv`.
        test_size: Test fraction (0.3).
        seed: Split and model seed.
        train_ids, test_ids: A predefined split (e.g. the manifest's ``split``
            column) instead of a random one; both or neither.
        centers, covariates: As in :func:`alnm_ray.model.cv.run_cv` (needed
            when the config harmonises).

    Returns:
        :class:`HoldoutOutput`; ``results`` has one row per feature set x
        classifier (test metrics, ``train_auc``, ``threshold``), ``predictions``
        one row per test patient.
    """
    cfg = resolve_config(selection_config)
    clfs = normalise_classifiers(classifiers)
    sets, ys = align_sets(X_by_set, y)
    fus = check_fusion(fusion, list(sets))
    reader_table = prepare_reader_table(cfg, sets, reader_table)
    metadata = prepare_metadata(cfg, ys.index, centers, covariates)
    yv = ys.to_numpy()
    if (train_ids is None) != (test_ids is None):
        from alnm_ray.exceptions import ConfigError

        raise ConfigError("run_holdout: pass both train_ids and test_ids, or neither.")
    if train_ids is not None and test_ids is not None:
        pos = pd.Series(np.arange(len(ys)), index=ys.index)
        tr, te = pos.loc[list(train_ids)].to_numpy(), pos.loc[list(test_ids)].to_numpy()
    else:
        tr, te = holdout_split(yv, test_size, seed)
    rows, preds, models = evaluate_split(sets, yv, tr, te, clfs, cfg, fusion=fus,
                                         reader_table=reader_table, seed=derive_seed(seed, "holdout"),
                                         inner_folds=fusion_inner_folds, label={"split": "holdout"},
                                         metadata=metadata)
    return HoldoutOutput(pd.DataFrame(rows), pd.concat(preds, ignore_index=True), models)


def run_leave_one_center_out(X_by_set: Mapping[str, pd.DataFrame], y: Any, centers: Any,
                             classifiers: Sequence[str] | Mapping[str, Mapping[str, Any]] = (
                                 CLASSIFIER_NAMES),
                             selection_config: Any = "guo2024", *, seed: int = 0,
                             reader_table: Any = None,
                             fusion: Mapping[str, Sequence[str]] | None = None,
                             fusion_inner_folds: int = 5, covariates: Any = None) -> HoldoutOutput:
    """Per-centre external validation: train on all other centres, test on one.

    Args:
        centers: Centre per patient: a Series indexed by patient id (or an
            array in ``y``'s order).  With ``harmonize="combat"`` the held-out
            centre is unseen in training: the config's ``combat_unseen`` policy
            applies ("refuse" stops; "reference" / "none" are recorded in the
            ``fallback`` column).
        covariates: As in :func:`alnm_ray.model.cv.run_cv`.
        Others: as :func:`run_holdout`.

    Returns:
        :class:`HoldoutOutput` with a ``center`` column (the held-out centre);
        ``models`` keys are ``(feature_set, classifier, center)``.
    """
    cfg = resolve_config(selection_config)
    clfs = normalise_classifiers(classifiers)
    sets, ys = align_sets(X_by_set, y)
    fus = check_fusion(fusion, list(sets))
    reader_table = prepare_reader_table(cfg, sets, reader_table)
    c = centers.loc[ys.index] if isinstance(centers, pd.Series) else pd.Series(
        np.asarray(centers), index=ys.index)
    metadata = prepare_metadata(cfg, ys.index, c, covariates)
    yv = ys.to_numpy()
    rows: list[dict[str, Any]] = []
    preds: list[pd.DataFrame] = []
    models: dict[tuple[str, ...], FittedClassifier] = {}
    for center, tr, te in leave_one_center_out(c.to_numpy()):
        r, p, m = evaluate_split(sets, yv, tr, te, clfs, cfg, fusion=fus,
                                 reader_table=reader_table, seed=derive_seed(seed, "loco", center),
                                 inner_folds=fusion_inner_folds, label={"center": center},
                                 metadata=metadata)
        rows += r
        preds += p
        models.update({(k[0], k[1], center): v for k, v in m.items()})
    return HoldoutOutput(pd.DataFrame(rows), pd.concat(preds, ignore_index=True), models)
