"""The Ray Tune trainable: run one unit, write its rows, report a summary.

Each trial reads the sweep's data from the Ray object store (put there once
by ``tune.with_parameters``), runs its unit with the pure-Python model
library, and writes ``RUN/trials/<unit>.results.parquet`` and
``<unit>.predictions.parquet``, then ``<unit>.json`` last (atomically): the
marker that the unit is complete, which a resumed sweep looks for.  The run
folder must therefore be on storage every Ray node can write (local disk for
an embedded Ray; a shared mount on a cluster).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray.select.routing import requested_params
from alnm_ray.tune.payload import TrialPayload
from alnm_ray.tune.units import KIND_CV, KIND_HOLDOUT, KIND_LOCO, Unit

logger = logging.getLogger(__name__)

#: Features whose per-centre distributions the selection record keeps (one report figure row
#: each; four keep the before/after figure readable on one screen).
HARMONIZATION_FEATURES = 4
#: Suffixes of a unit's files in ``RUN/trials``.
RESULTS_SUFFIX = ".results.parquet"
PREDICTIONS_SUFFIX = ".predictions.parquet"
MARKER_SUFFIX = ".json"


def _atomic_write(path: Path, write: Any) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(tmp)
    os.replace(tmp, path)


def unit_done(trials_dir: Path, uid: str, run_id: str) -> bool:
    """Whether a unit's files exist and belong to run ``run_id``."""
    marker = trials_dir / f"{uid}{MARKER_SUFFIX}"
    if not marker.is_file():
        return False
    try:
        meta = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return False
    return (meta.get("run_id") == run_id and (trials_dir / f"{uid}{RESULTS_SUFFIX}").is_file()
            and (trials_dir / f"{uid}{PREDICTIONS_SUFFIX}").is_file())


def write_unit(trials_dir: Path, uid: str, run_id: str, results: pd.DataFrame,
               predictions: pd.DataFrame, meta: Mapping[str, Any]) -> dict[str, Any]:
    """Write a unit's two tables, then its marker (the completion flag)."""
    trials_dir.mkdir(parents=True, exist_ok=True)
    _atomic_write(trials_dir / f"{uid}{RESULTS_SUFFIX}", lambda p: results.to_parquet(p, index=False))
    _atomic_write(trials_dir / f"{uid}{PREDICTIONS_SUFFIX}",
                  lambda p: predictions.to_parquet(p, index=False))
    record = {"run_id": run_id, "uid": uid, "rows": len(results), **meta}
    _atomic_write(trials_dir / f"{uid}{MARKER_SUFFIX}",
                  lambda p: p.write_text(json.dumps(record, default=str, indent=1), encoding="utf-8"))
    return record


def selection_record(pipeline: Any, X_train: pd.DataFrame,
                     metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Features left after each step of a fitted selection pipeline, and its LASSO details.

    Args:
        pipeline: Fitted imblearn Pipeline (from ``fit_selection``).
        X_train: The training rows it was fitted on.
        metadata: Per-patient metadata its steps request (centres for ComBat).

    Returns:
        ``{"steps": [{"step", "n"}], "lasso": {...} | None}`` (the run-folder
        ``selection/<set>.json`` layout), plus ``"harmonization"`` when the pipeline
        has a ComBat step (see :func:`harmonization_record`).
    """
    steps = [{"step": "input", "n": int(X_train.shape[1])}]
    Xt: Any = X_train
    lasso = None
    combat = None
    for name, step in pipeline.steps:
        if not hasattr(step, "fit_resample"):  # samplers add rows, never columns
            before = Xt
            Xt = step.transform(Xt, **requested_params(step, "transform", metadata or {}))
            if hasattr(step, "gamma_star_"):  # ComBat: keep its input and output rows
                combat = (step, before, Xt)
        steps.append({"step": name, "n": int(Xt.shape[1])})
        found = _find_lasso(step)
        if found is not None:
            lasso = found
    out = {"steps": steps, "lasso": _lasso_record(lasso) if lasso is not None else None}
    if combat is not None:
        out["harmonization"] = harmonization_record(*combat, metadata or {},
                                                    selected=[str(c) for c in Xt.columns])
    return out


def harmonization_record(step: Any, before: pd.DataFrame, after: pd.DataFrame,
                         metadata: Mapping[str, Any], *, selected: list[str],
                         max_features: int = HARMONIZATION_FEATURES) -> dict[str, Any]:
    """Per-centre values of a few features before and after a fitted ComBat step (training rows).

    The features are the selected ones that ComBat adjusted, then those whose centre
    means differ most before harmonisation (in SD units), up to ``max_features``.

    Args:
        step: The fitted :class:`~alnm_ray.select.combat.ComBatHarmonizer`.
        before, after: Its input and output rows (the training rows it learned from).
        metadata: ``{"batch": centre per patient id, ...}``.
        selected: The pipeline's output feature names.
        max_features: How many features to keep.

    Returns:
        ``{"patients", "centers", "features", "before": {feature: values},
        "after": {feature: values}, "n_per_center", "fallback"}``.
    """
    ids = [str(i) for i in before.index]
    batch = metadata.get("batch")
    centres = (pd.Series(batch).rename(index=str).reindex(ids).astype(str).tolist()
               if batch is not None else ["all"] * len(ids))
    harmonised = [c for c in step.harmonized_features_ if c in before.columns and c in after.columns]
    chosen = [c for c in selected if c in harmonised][:max_features]
    if len(chosen) < max_features and harmonised:
        b = before[harmonised].astype(float)
        sd = b.std().replace(0.0, np.nan)
        spread = (b.groupby(np.asarray(centres)).mean().agg(np.ptp) / sd).fillna(0.0)
        rest = [c for c in spread.sort_values(ascending=False, kind="stable").index if c not in chosen]
        chosen += rest[:max_features - len(chosen)]
    return {"patients": ids, "centers": centres, "features": chosen,
            "before": {c: [float(v) for v in before[c]] for c in chosen},
            "after": {c: [float(v) for v in after[c]] for c in chosen},
            "n_per_center": dict(step.n_per_batch_), "fallback": step.fallback_}


def _find_lasso(step: Any) -> Any:
    if hasattr(step, "mse_path_") and hasattr(step, "alphas_"):
        return step
    for est in getattr(step, "fitted_routes_", {}).values():  # KindRouter
        for sub in getattr(est, "steps", [(None, est)]):
            if hasattr(sub[1], "mse_path_"):
                return sub[1]
    return None


def _lasso_record(step: Any) -> dict[str, Any]:
    mse = np.asarray(step.mse_path_, dtype=float).reshape(len(step.alphas_), -1)
    names = [str(c) for c in step.feature_names_in_]
    support = np.asarray(step.support_, dtype=bool)
    coef = np.asarray(step.coef_, dtype=float)
    return {"alphas": [float(a) for a in step.alphas_],
            "mse_mean": [float(v) for v in np.nanmean(mse, axis=1)],
            "mse_std": [float(v) for v in np.nanstd(mse, axis=1)],
            "alpha_min": float(step.alpha_),
            "coef_path": np.asarray(step.coef_path_, dtype=float).round(8).tolist(),
            "path_features": names,
            "features": [n for n, keep in zip(names, support) if keep],
            "coefs": {n: float(c) for n, c, keep in zip(names, coef, support) if keep}}


def _run_cv_unit(unit: Unit, payload: TrialPayload) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    from alnm_ray.model import run_cv
    from alnm_ray.model.inputs import prepare_metadata
    from alnm_ray.tune.search import cv_candidate

    cfg, sel = payload.config, payload.selection
    sets, y = payload.rows(unit, payload.cv_ids)
    if unit.candidate is None:
        out = run_cv(sets, y, cfg.classifier_map(), sel, repeats=cfg.repeats, folds=cfg.folds,
                     seed=cfg.seed, repeat_indices=list(unit.repeats),
                     fold_indices=list(unit.folds) or None,
                     reader_table=payload.reader_ratings, fusion=dict(unit.fusion),
                     fusion_inner_folds=cfg.fusion_inner_folds,
                     fusion_meta_params=cfg.fusion_meta_params or None, feature_sets=list(unit.plain),
                     centers=payload.centers if sel.harmonize else None)
        return out.results, out.oof, {}
    if payload.candidates is None:  # pragma: no cover - plan_units sets candidates only with a search
        raise ValueError(f"unit {unit.uid}: candidate {unit.candidate} but the sweep has no search")
    params = payload.candidates[unit.candidate]
    res, oof = cv_candidate(sets, y, unit.plain, unit.candidate, params, sel, repeats=cfg.repeats,
                            folds=cfg.folds, seed=cfg.seed, repeat_indices=list(unit.repeats),
                            fold_indices=list(unit.folds) or None,
                            reader_table=payload.reader_ratings, inner_folds=cfg.inner_folds,
                            metadata=prepare_metadata(sel, y.index, payload.centers))
    return res, oof, {}


def _run_split_unit(unit: Unit, payload: TrialPayload) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Hold-out (train/test ids) or one held-out centre, selection shared per set."""
    from alnm_ray.model.fitted import FittedModel
    from alnm_ray.model.holdout import evaluate_split
    from alnm_ray.model.inputs import normalise_classifiers, prepare_metadata
    from alnm_ray.model.permutation import permutation_auc_drop
    from alnm_ray.model.splits import derive_seed
    from alnm_ray.tune.search import split_search

    cfg, sel = payload.config, payload.selection
    y_all = payload.y
    if unit.kind == KIND_HOLDOUT:
        if payload.train_ids is None or payload.test_ids is None:  # pragma: no cover - plan_units
            raise ValueError(f"unit {unit.uid}: a hold-out unit but the sweep has no hold-out split")
        train_ids, test_ids = list(payload.train_ids), list(payload.test_ids)
        seed, label = derive_seed(cfg.seed, "holdout"), {"split": "holdout"}
    else:
        centers = payload.centers
        if centers is None:  # pragma: no cover - plan_units adds centre units only with centres
            raise ValueError(f"unit {unit.uid}: a held-out centre but the sweep has no centres")
        train_ids = [p for p in y_all.index if centers[p] != unit.center]
        test_ids = [p for p in y_all.index if centers[p] == unit.center]
        seed, label = derive_seed(cfg.seed, "loco", unit.center), {"center": str(unit.center)}
    ids = train_ids + test_ids
    sets, y = payload.rows(unit, ids)
    yv = y.to_numpy().astype(int)
    tr, te = np.arange(len(train_ids)), np.arange(len(train_ids), len(ids))
    metadata = prepare_metadata(sel, y.index, payload.centers)
    if payload.candidates is None:
        rows, preds, models = evaluate_split(
            sets, yv, tr, te, normalise_classifiers(cfg.classifier_map()), sel,
            fusion={k: list(v) for k, v in unit.fusion}, reader_table=payload.reader_ratings,
            seed=seed, inner_folds=cfg.fusion_inner_folds, meta_params=cfg.fusion_meta_params or None,
            label=label, metadata=metadata)
    else:
        rows, preds, models = split_search(
            sets, yv, tr, te, unit.plain, list(cfg.classifiers), payload.candidates, sel,
            reader_table=payload.reader_ratings, seed=seed, inner_folds=cfg.inner_folds,
            label=label, metadata=metadata)
    keep = set(unit.sets)
    results = pd.DataFrame(rows)
    results = results[results["feature_set"].isin(keep)].reset_index(drop=True)
    test = pd.concat(preds, ignore_index=True)
    test = test[test["feature_set"].isin(keep)].assign(split="test")
    parts, selection, importance = [test], {}, []
    if unit.kind == KIND_HOLDOUT:
        train_idx = sets[unit.components[0]].index[tr]
        for (fs, clf), model in models.items():
            if fs not in keep:
                continue
            p = model.predict_sets({k: sets[k].iloc[tr] for k in model.inputs})
            thr = float(model.threshold)
            if isinstance(model, FittedModel) and fs not in selection:
                selection[fs] = selection_record(model.selection, sets[fs].iloc[tr], model.metadata)
            if isinstance(model, FittedModel):  # post-fusion models have no single feature table
                table = permutation_auc_drop(model, sets[fs].iloc[te], yv[te], seed=seed)
                if table is not None:
                    importance += table.assign(feature_set=fs, classifier=clf).to_dict("records")
            parts.append(pd.DataFrame({"feature_set": fs, "classifier": clf,
                                       "patient_id": [str(i) for i in train_idx],
                                       "y_true": yv[tr], "prob": p, "pred": (p >= thr).astype(int),
                                       "split": "train"}))
    extra: dict[str, Any] = {"selection": selection}
    if importance:
        extra["permutation_importance"] = importance
    return results, pd.concat(parts, ignore_index=True), extra


def execute_unit(unit: Unit, payload: TrialPayload) -> dict[str, Any]:
    """Run one unit and write its files.

    Args:
        unit: The unit.
        payload: The sweep's shared data (see :func:`alnm_ray.tune.payload.build_payload`).

    Returns:
        The marker record (run id, rows, seconds, mean AUC, process id, and
        ``started`` / ``ended``: epoch seconds of the unit's work).
    """
    trials_dir = payload.trials_dir
    started = time.time()  # wall clock: the sweep measures Tune's overhead between units
    start = time.perf_counter()
    if unit.kind == KIND_CV:
        results, predictions, extra = _run_cv_unit(unit, payload)
    elif unit.kind in (KIND_HOLDOUT, KIND_LOCO):
        results, predictions, extra = _run_split_unit(unit, payload)
    else:  # pragma: no cover - units are built by plan_units
        raise ValueError(f"unit {unit.uid}: unknown kind {unit.kind!r}")
    seconds = time.perf_counter() - start
    auc = float(results["auc"].mean()) if len(results) else float("nan")
    meta = {"kind": unit.kind, "seconds": seconds, "auc_mean": auc, "pid": os.getpid(),
            "started": started, "ended": started + seconds, **extra}
    return write_unit(trials_dir, unit.uid, payload.run_id, results, predictions, meta)


def trainable(config: Mapping[str, Any], payload: TrialPayload) -> None:
    """Ray Tune function trainable: ``config["unit"]`` names the unit to run.

    Reports ``{"unit", "rows", "seconds", "auc_mean"}`` once, at the end.
    """
    from ray import tune

    unit = payload.unit_for(config)
    record = execute_unit(unit, payload)
    tune.report({"unit": unit.uid, "rows": int(record["rows"]), "seconds": float(record["seconds"]),
                 "auc_mean": float(record["auc_mean"])})
