"""Collecting unit files into the run folder and the store's ``cv_results`` / ``oof_predictions``.

The run-folder layout is the one ``alnm-ray report`` and ``alnm-ray train
--run`` read: ``run.json``, ``cv_results.parquet``, ``oof_predictions.parquet``,
``summary.csv``, ``holdout_predictions.parquet``, ``holdout_metrics.json``,
``selection/<set>.json``, ``holdout_permutation_importance.csv``,
``external_predictions.parquet``, ``cohort.csv``.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.csvsafe import neutralize_frame
from alnm_ray.model.permutation import PERMUTATION_FILE
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import TuneInputs, cv_patients
from alnm_ray.tune.trial import MARKER_SUFFIX, PREDICTIONS_SUFFIX, RESULTS_SUFFIX
from alnm_ray.tune.units import KIND_CV, KIND_HOLDOUT, KIND_LOCO, Unit

logger = logging.getLogger(__name__)

#: Metrics summarised as mean and SD per feature set x classifier.
SUMMARY_METRICS: tuple[str, ...] = ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv",
                                    "f1", "threshold")
#: Libraries whose versions are recorded in run.json.
LIBRARIES: tuple[str, ...] = ("scikit-learn", "xgboost", "lightgbm", "imbalanced-learn", "numpy",
                              "pandas", "scipy", "ray")


def collect(trials_dir: Path, units: Sequence[Unit], kind: str
            ) -> tuple[pd.DataFrame, pd.DataFrame, list[dict[str, Any]]]:
    """Concatenate the result and prediction files and markers of one kind of unit."""
    res, pred, meta = [], [], []
    for u in units:
        if u.kind != kind:
            continue
        res.append(pd.read_parquet(trials_dir / f"{u.uid}{RESULTS_SUFFIX}"))
        pred.append(pd.read_parquet(trials_dir / f"{u.uid}{PREDICTIONS_SUFFIX}"))
        meta.append(json.loads((trials_dir / f"{u.uid}{MARKER_SUFFIX}").read_text(encoding="utf-8")))
    cat = (lambda parts: pd.concat([p for p in parts if len(p)], ignore_index=True)
           if any(len(p) for p in parts) else pd.DataFrame())
    return cat(res), cat(pred), meta


def _order(df: pd.DataFrame, sets: Sequence[str], clfs: Sequence[str], extra: Sequence[str]
           ) -> pd.DataFrame:
    if df.empty:
        return df
    key = {"feature_set": {s: i for i, s in enumerate(sets)},
           "classifier": {c: i for i, c in enumerate(clfs)}}
    return df.sort_values(["feature_set", "classifier", *extra], kind="mergesort",
                          key=lambda s: s.map(key[s.name]) if s.name in key else s
                          ).reset_index(drop=True)


def _front(df: pd.DataFrame, first: Sequence[str]) -> pd.DataFrame:
    return df[list(first) + [c for c in df.columns if c not in first]]


def summarize(cv: pd.DataFrame, sets: Sequence[str] | None = None,
              classifiers: Sequence[str] | None = None) -> pd.DataFrame:
    """Mean and SD over repeats x folds per feature set x classifier.

    Returns:
        Columns ``feature_set, classifier, n_folds, <metric>_mean, <metric>_sd`` for
        :data:`SUMMARY_METRICS` (SD with ddof=1; NaN folds skipped).
    """
    metrics = [m for m in SUMMARY_METRICS if m in cv.columns]
    g = cv.groupby(["feature_set", "classifier"], sort=False)
    out = g.size().rename("n_folds").to_frame()
    for m in metrics:
        out[f"{m}_mean"] = g[m].mean()
        out[f"{m}_sd"] = g[m].std(ddof=1)
    out = out.reset_index()
    return _order(out, sets or sorted(out.feature_set.unique()),
                  classifiers or sorted(out.classifier.unique()), [])


def format_summary(summary: pd.DataFrame) -> str:
    """Text table ``feature set  classifier  AUC mean ± SD ...`` for the console."""
    cols = [("auc", "AUC"), ("accuracy", "accuracy"), ("sensitivity", "sensitivity"),
            ("specificity", "specificity"), ("f1", "F1")]
    table = pd.DataFrame({"feature set": summary["feature_set"], "classifier": summary["classifier"]})
    for m, title in cols:
        if f"{m}_mean" in summary:
            table[title] = [f"{a:.3f} ± {b:.3f}" if np.isfinite(b) else f"{a:.3f}"
                            for a, b in zip(summary[f"{m}_mean"], summary[f"{m}_sd"])]
    return table.to_string(index=False)


def _cv_tables(cv: pd.DataFrame, oof: pd.DataFrame, inputs: TuneInputs, run_id: str
               ) -> tuple[pd.DataFrame, pd.DataFrame]:
    cv = cv.assign(precision=cv["ppv"], recall=cv["sensitivity"], run_id=run_id)
    centers = inputs.centers if inputs.centers is not None else pd.Series(dtype=object)
    oof = oof.rename(columns={"y_true": C.COL_LABEL, "prob": "probability"})
    oof.insert(1, C.COL_CENTER, oof[C.COL_PATIENT].map(centers))
    front = [C.COL_PATIENT, C.COL_CENTER, C.COL_LABEL, "feature_set", "classifier", "repeat", "fold",
             "probability", "pred"]
    oof = oof[front + [c for c in oof.columns if c not in front]].assign(run_id=run_id)
    return cv, oof


def _evaluate_holdout(hold: pd.DataFrame, preds: pd.DataFrame, cfg: TuneRunConfig) -> dict:
    from alnm_ray.stats import evaluate_models

    test = preds[preds["split"] == "test"]
    out: dict[str, Any] = {"results": json.loads(hold.drop(
        columns=[c for c in ("selected_features", "params", "classifier_warnings") if c in hold]
    ).to_json(orient="records")), "evaluation": {}}
    for fs, group in test.groupby("feature_set", sort=False):
        group = group.sort_values(["classifier", C.COL_PATIENT])
        models, thr = {}, {}
        for clf, g in group.groupby("classifier", sort=False):
            models[clf] = g["probability"].to_numpy(float)
            thr[clf] = float(g["threshold"].iloc[0])
        y = group.drop_duplicates(C.COL_PATIENT)[C.COL_LABEL].to_numpy(int)
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                out["evaluation"][fs] = evaluate_models(
                    y, models, threshold=thr, n_boot=cfg.n_boot, seed=cfg.seed,
                    hl_groups=10 if len(y) >= 50 else 5)
            # Small test sets make some statistics undefined (e.g. separated
            # classes); the warnings are kept with the numbers they concern.
            out["evaluation"][fs]["warnings"] = sorted({str(w.message) for w in caught})
        except Exception as err:  # noqa: BLE001 - recorded in the file and the log, not hidden
            logger.warning("holdout_metrics.json: evaluation of %s failed: %s", fs, err)
            out["evaluation"][fs] = {"error": f"{type(err).__name__}: {err}"}
    return out


def write_outputs(store: Any, cfg: TuneRunConfig, inputs: TuneInputs, units: Sequence[Unit],
                  run_id: str, run_dir: Path, candidates: list | None, *, started: float,
                  sweep: dict[str, Any]) -> tuple[dict[str, Any], pd.DataFrame]:
    """Write every run-folder file and the two store tables.

    Returns:
        ``(outputs, summary)``: written paths and store versions, and the summary frame.
    """
    from alnm_ray.store import library_versions
    from alnm_ray.tune.search import best_params_from_cv, choose_cv_rows

    trials_dir = run_dir / "trials"
    sets, clfs = inputs.feature_sets, list(cfg.classifiers)
    cv, oof, _ = collect(trials_dir, units, KIND_CV)
    logger.debug("collected %d CV rows", len(cv))
    if candidates is not None:
        all_candidates = cv
        cv, oof = choose_cv_rows(cv, oof)
        all_candidates.to_parquet(run_dir / "search_results.parquet", index=False)
    cv, oof = _cv_tables(cv, oof, inputs, run_id)
    cv = _order(cv, sets, clfs, ["repeat", "fold"])
    oof = _order(oof, sets, clfs, ["repeat", "fold", C.COL_PATIENT])
    cv.to_parquet(run_dir / "cv_results.parquet", index=False)
    oof.to_parquet(run_dir / "oof_predictions.parquet", index=False)
    summary = summarize(cv, sets, clfs)
    neutralize_frame(summary).to_csv(run_dir / "summary.csv", index=False)
    outputs: dict[str, Any] = {"cv_results": str(run_dir / "cv_results.parquet")}
    best_params: dict[str, Any] = {}
    hold, hpred, hmeta = collect(trials_dir, units, KIND_HOLDOUT)
    if len(hold):
        hpred = hpred.rename(columns={"y_true": C.COL_LABEL, "prob": "probability"})
        thr = hold.set_index(["feature_set", "classifier"])["threshold"]
        hpred["threshold"] = [thr.get((f, c), np.nan) for f, c in zip(hpred.feature_set, hpred.classifier)]
        hpred.insert(1, C.COL_CENTER, hpred[C.COL_PATIENT].map(
            inputs.centers if inputs.centers is not None else pd.Series(dtype=object)))
        hpred = _front(_order(hpred, sets, clfs, ["split", C.COL_PATIENT]),
                       [C.COL_PATIENT, C.COL_CENTER, C.COL_LABEL, C.COL_SPLIT, "feature_set",
                        "classifier", "probability", "threshold"])
        hpred.to_parquet(run_dir / "holdout_predictions.parquet", index=False)
        metrics = _evaluate_holdout(_order(hold, sets, clfs, []), hpred, cfg)
        (run_dir / "holdout_metrics.json").write_text(json.dumps(metrics, indent=1, default=str),
                                                      encoding="utf-8")
        sel_dir = run_dir / "selection"
        sel_dir.mkdir(exist_ok=True)
        for meta in hmeta:
            for fs, record in (meta.get("selection") or {}).items():
                (sel_dir / f"{fs}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
        importance = [row for meta in hmeta for row in meta.get("permutation_importance") or []]
        if importance:
            path = run_dir / PERMUTATION_FILE
            neutralize_frame(pd.DataFrame(importance)[["feature_set", "classifier", "feature", "auc_drop_mean",
                                                       "auc_drop_sd"]]).to_csv(path, index=False)
            outputs["permutation_importance"] = str(path)
        if candidates is not None:
            best_params = {f"{r.feature_set}/{r.classifier}": dict(candidates[int(r.candidate)][r.classifier])
                           for r in hold.itertuples() if hasattr(r, "candidate")}
        outputs["holdout"] = str(run_dir / "holdout_predictions.parquet")
    if candidates is not None and not best_params:
        best_params = best_params_from_cv(cv, candidates)
    ext, epred, _ = collect(trials_dir, units, KIND_LOCO)
    if len(ext):
        epred = epred.rename(columns={"y_true": C.COL_LABEL, "prob": "probability",
                                      C.COL_CENTER: "held_out_center"})
        thr = ext.set_index(["feature_set", "classifier", C.COL_CENTER])["threshold"]
        epred["threshold"] = [thr.get((f, c, k), np.nan) for f, c, k in
                              zip(epred.feature_set, epred.classifier, epred.held_out_center)]
        epred = _front(_order(epred.drop(columns=[C.COL_SPLIT], errors="ignore"), sets, clfs,
                              ["held_out_center", C.COL_PATIENT]),
                       ["held_out_center", C.COL_PATIENT, C.COL_LABEL, "feature_set", "classifier",
                        "probability", "threshold"])
        epred.to_parquet(run_dir / "external_predictions.parquet", index=False)
        neutralize_frame(_order(ext, sets, clfs, [C.COL_CENTER]).drop(
            columns=[c for c in ("selected_features", "params", "classifier_warnings") if c in ext]
        )).to_csv(run_dir / "external_metrics.csv", index=False)
        outputs["external"] = str(run_dir / "external_predictions.parquet")
    logger.debug("run-folder tables written")
    neutralize_frame(inputs.cohort).to_csv(run_dir / "cohort.csv", index=False)
    inputs_refs = [f"{t}@{v}" for t, v in sorted(inputs.table_versions.items())]
    lineage = {"inputs": inputs_refs, "run_dir": str(run_dir.resolve()), "run_id": run_id}
    params = {"config": cfg.content(), "kind": "alnm-ray tune"}
    info_cv = store.write_version(C.TABLE_CV_RESULTS, cv, version_id=run_id, params=params,
                                  lineage=lineage, counts={"rows": len(cv)})
    info_oof = store.write_version(C.TABLE_OOF, oof, version_id=run_id, params=params,
                                   lineage=lineage, counts={"rows": len(oof)})
    outputs["store"] = {C.TABLE_CV_RESULTS: info_cv.version, C.TABLE_OOF: info_oof.version}
    now = time.perf_counter()
    run = {
        "run_id": run_id, "store": store.uri, "tables": dict(sorted(inputs.table_versions.items())),
        "clinical": cfg.clinical, "preset": cfg.preset, "selection": cfg.selection,
        "classifiers": clfs, "classifier_params": cfg.classifier_params,
        "fusion_meta_params": cfg.fusion_meta_params, "protocol": cfg.protocol or None, "feature_sets": sets,
        "fusion": {k: list(v) for k, v in inputs.fusion.items()},
        "repeats": cfg.repeats, "folds": cfg.folds, "seed": cfg.seed, "reader": cfg.reader,
        "cv_on": cfg.cv_on, "cv_patients": len(cv_patients(inputs, cfg)),
        "patients": int(len(inputs.y)), "excluded_unlabelled": inputs.n_unlabelled,
        "dropped_empty_columns": inputs.empty_columns,
        "holdout": None if inputs.train_ids is None or inputs.test_ids is None else {
            "test_size": cfg.test_size, "seed": cfg.seed, "source": inputs.split_source,
            "train_patients": list(inputs.train_ids), "test_patients": list(inputs.test_ids)},
        "external": {"scheme": "leave-one-centre-out" if len(ext) else None,
                     "centers": sorted(ext[C.COL_CENTER].unique().tolist()) if len(ext) else []},
        "search": None if candidates is None else {
            "kind": "random", "samples": cfg.samples, "inner_folds": cfg.inner_folds,
            "candidates": candidates,
            "semantics": "nested: per outer fold, candidates ranked by inner-CV AUC on the outer "
                         "training rows; hold-out and per-centre models choose on training rows"},
        "best_params": best_params,
        "store_versions": outputs["store"],
        "versions": {"python_packages": library_versions(*LIBRARIES)},
        "started": datetime.fromtimestamp(time.time() - (now - started), timezone.utc).isoformat(),
        "finished": datetime.now(timezone.utc).isoformat(),
        "wall_seconds": now - started, "trials": len(units), "sweep": sweep,
    }
    (run_dir / "run.json").write_text(json.dumps(run, indent=1, default=str), encoding="utf-8")
    outputs["run_json"] = str(run_dir / "run.json")
    return outputs, summary
