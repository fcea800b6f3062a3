"""Fit every model of a protocol on the training set and evaluate it on every set.

The training set is the protocol's training ``split``; every other set of the
validation design (internal validation, test, external, temporal,
prospective) is scored once by models that never saw it.  For every model
(feature set x classifier, post-fusion included, and the logistic clinical
model when the protocol has one) and every set -- the training set too, as
each paper reports it -- the metrics are AUC with its DeLong 95 % CI,
accuracy, sensitivity, specificity, PPV, NPV and F1 at the model's
training-set Youden threshold.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.protocol.model import Protocol

logger = logging.getLogger(__name__)

#: Name of the training set in every table.
TRAINING = "training"
#: Classifier name of the protocol's logistic clinical model.
LOGISTIC = "logistic"
#: Metric columns, in table order.
METRIC_COLUMNS: tuple[str, ...] = ("auc", "auc_low", "auc_high", "accuracy", "sensitivity", "specificity",
                                   "ppv", "npv", "f1", "threshold")


@dataclass
class Evaluation:
    """What :func:`evaluate_protocol` computed (also written to the run folder).

    Attributes:
        metrics: One row per set x model (``set, role, feature_set, classifier, n, n_positive`` + metrics).
        predictions: One row per patient x set x model (probability, label, threshold).
        comparisons: One row per named comparison x pair x set (DeLong, NRI, IDI).
        selection: Feature set -> ``{"steps": [{"step", "n"}], "lasso": …}`` on the training set.
        models: ``(feature_set, classifier)`` -> fitted model.
        odds_ratios: The clinical model's odds-ratio table, when the protocol has one.
    """

    metrics: pd.DataFrame
    predictions: pd.DataFrame
    comparisons: pd.DataFrame
    selection: dict[str, Any] = field(default_factory=dict)
    models: dict[tuple[str, str], Any] = field(default_factory=dict)
    odds_ratios: pd.DataFrame | None = None


def set_membership(p: Protocol, split: pd.Series) -> dict[str, list[str]]:
    """Set name -> patient ids, from each patient's ``split`` value (training first)."""
    split = split.astype("string")
    out = {TRAINING: list(split.index[split == p.training_split])}
    for vs in p.validation_sets:
        out[vs.name] = list(split.index[split.isin(list(vs.splits))])
    return out


def metrics_row(y: np.ndarray, prob: np.ndarray, threshold: float) -> dict[str, float]:
    """AUC with its DeLong 95 % CI and the threshold metrics at ``threshold``."""
    from alnm_ray.model.metrics import binary_metrics
    from alnm_ray.stats import delong_ci

    out = binary_metrics(y, prob, threshold)
    low = high = float("nan")
    if np.unique(y).size == 2:
        ci = delong_ci(y, prob)
        low, high = float(ci.low), float(ci.high)
    return {"auc": out["auc"], "auc_low": low, "auc_high": high,
            **{k: out[k] for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")},
            "threshold": float(threshold)}


def _clinical_model(p: Protocol, cohort: pd.DataFrame, members: dict[str, list[str]], y: pd.Series):
    from alnm_ray.model.metrics import youden_threshold
    from alnm_ray.stats.logistic import ClinicalLogisticModel

    spec = dict(p.clinical_model or {})
    spec.pop("method", None)
    cols = [v for v in p.clinical_variables if v in cohort.columns]
    X = cohort[cols]
    train = members[TRAINING]
    model = ClinicalLogisticModel(**spec, on_separation="exclude").fit(X.loc[train], y.loc[train].to_numpy())
    p_train = model.predict_proba(X.loc[train])[:, 1]
    return model, youden_threshold(y.loc[train].to_numpy(), p_train), X


def _covariates(cfg: Any, cohort: pd.DataFrame) -> pd.DataFrame | None:
    """The clinical covariates ComBat preserves (``combat_covariates``), by patient id; None if none."""
    names = [c for c in getattr(cfg, "combat_covariates", ()) if c in cohort.columns]
    return cohort[names] if names else None


def _comparisons(p: Protocol, preds: pd.DataFrame) -> pd.DataFrame:
    from alnm_ray.stats import continuous_nri, delong_test, idi

    rows = []
    for comp in p.comparisons:
        sets = comp.sets or tuple(preds["set"].unique())
        first, others = comp.models[0], comp.models[1:]
        for set_name in sets:
            sub = preds[preds["set"] == set_name]
            a = sub[(sub.feature_set == first[0]) & (sub.classifier == first[1])].sort_values(C.COL_PATIENT)
            for other in others:
                b = sub[(sub.feature_set == other[0]) & (sub.classifier == other[1])].sort_values(C.COL_PATIENT)
                if a.empty or b.empty or list(a[C.COL_PATIENT]) != list(b[C.COL_PATIENT]):
                    continue
                y = a[C.COL_LABEL].to_numpy(int)
                if np.unique(y).size < 2:
                    continue
                pa, pb = a["probability"].to_numpy(float), b["probability"].to_numpy(float)
                row: dict[str, Any] = {"comparison": comp.name, "set": set_name,
                                       "model_a": "/".join(first), "model_b": "/".join(other), "n": len(y)}
                test = delong_test(y, pa, pb)
                row.update({"auc_a": test.auc_a, "auc_b": test.auc_b, "delong_z": test.z, "delong_p": test.p})
                if "nri" in comp.tests:
                    nri = continuous_nri(y, pa, pb)
                    row.update({"nri": nri.nri, "nri_p": nri.p})
                if "idi" in comp.tests:
                    res = idi(y, pa, pb)
                    row.update({"idi": res.idi, "idi_p": res.p})
                rows.append(row)
    return pd.DataFrame(rows)


def evaluate_protocol(p: Protocol, inputs: Any, *, quick: bool = False, seed: int = 0) -> Evaluation:
    """Fit on the training set, score every set, compare the paper's pairs.

    Args:
        p: The protocol.
        inputs: :class:`~alnm_ray.tune.inputs.TuneInputs` of every labelled patient
            (``cohort`` carries each patient's ``split``).
        quick: Fewer inner folds for post-fusion (``--quick``).
        seed: Base seed of selection and classifiers.

    Returns:
        An :class:`Evaluation`.
    """
    from alnm_ray.model.holdout import evaluate_split
    from alnm_ray.model.inputs import prepare_metadata, prepare_reader_table
    from alnm_ray.tune.trial import selection_record

    cohort = inputs.cohort.set_index(C.COL_PATIENT)
    y = inputs.y
    members = {k: [i for i in v if i in y.index] for k, v in set_membership(p, cohort[C.COL_SPLIT]).items()}
    cfg = p.selection_config(quick=quick)
    sets = {n: inputs.sets[n] for n in inputs.sets}
    index = y.index
    pos = pd.Series(np.arange(len(index)), index=index)
    tr = pos.loc[members[TRAINING]].to_numpy()
    others = [i for name, ids in members.items() if name != TRAINING for i in ids]
    te = pos.loc[list(dict.fromkeys(others))].to_numpy()
    yv = y.to_numpy(int)
    reader_table = prepare_reader_table(cfg, sets, inputs.reader_ratings)
    # ComBat (``harmonize: combat``) learns on the training set's rows only, as in the CV folds;
    # every other set is harmonised with its own centre's parameters (or the unseen-centre policy).
    metadata = prepare_metadata(cfg, index, inputs.centers, _covariates(cfg, cohort))
    plain = {n: sets[n].loc[index] for n in inputs.plain}
    all_sets = {n: X.loc[index] for n, X in sets.items()}
    _, _, fitted = evaluate_split(
        all_sets, yv, tr, te, p.classifiers, cfg, fusion=inputs.fusion, reader_table=reader_table,
        seed=seed, inner_folds=p.inner_folds(quick=quick),
        meta_params=p.post_fusion.get("meta_params"), label={"split": "protocol"}, metadata=metadata)
    models: dict[tuple[str, str], Any] = {
        (str(k[0]), str(k[1])): m for k, m in fitted.items() if k[0] in plain or k[0] in inputs.fusion}
    rows, preds = [], []
    roles = {TRAINING: "training", **{vs.name: vs.role for vs in p.validation_sets}}
    scored: dict[tuple[str, str], tuple[Any, float]] = {}
    train_ids = set(members[TRAINING])

    def predictor(model: Any) -> Any:
        fusion = getattr(model, "model", None)
        oof = getattr(fusion, "oof_", None)

        def predict(ids: list[str]) -> np.ndarray:
            if fusion is not None and oof is not None and set(ids) == train_ids:
                # The meta model's training-set probabilities come from the components' out-of-fold
                # probabilities it was trained on (in-sample component fits would flatter it).
                return fusion.meta_.predict_proba(oof.loc[ids].to_numpy(float))[:, 1]
            return model.predict_sets({n: X.loc[ids] for n, X in all_sets.items()})
        return predict

    for key, model in models.items():
        scored[key] = (predictor(model), float(model.threshold))
    odds = None
    if p.clinical_model is not None:
        clin, thr, X = _clinical_model(p, cohort, members, y)
        scored[("clinical", LOGISTIC)] = (lambda ids, m=clin, X=X: m.predict_proba(X.loc[ids])[:, 1], thr)
        models[("clinical", LOGISTIC)] = clin
        odds = clin.odds_ratio_table_
    for (fs, clf), (predict, threshold) in scored.items():
        for set_name, ids in members.items():
            if not ids:
                continue
            prob = np.asarray(predict(ids), dtype=float)
            yy = y.loc[ids].to_numpy(int)
            rows.append({"set": set_name, "role": roles[set_name], "feature_set": fs, "classifier": clf,
                         "n": len(ids), "n_positive": int(yy.sum()), **metrics_row(yy, prob, threshold)})
            preds.append(pd.DataFrame({C.COL_PATIENT: ids, "set": set_name, "feature_set": fs,
                                       "classifier": clf, C.COL_LABEL: yy, "probability": prob,
                                       "threshold": threshold}))
    predictions = pd.concat(preds, ignore_index=True)
    selection = {}
    for (fs, clf), model in models.items():
        if fs in plain and fs not in selection and hasattr(model, "selection"):
            selection[fs] = selection_record(model.selection, plain[fs].loc[members[TRAINING]],
                                             getattr(model, "metadata", None))
    return Evaluation(pd.DataFrame(rows), predictions, _comparisons(p, predictions), selection, models, odds)


def write_evaluation(ev: Evaluation, run_dir: Path) -> dict[str, str]:
    """Write metrics.csv, predictions.parquet, comparisons.csv, selection/*.json, odds_ratios.csv."""
    from alnm_ray.csvsafe import neutralize_frame

    run_dir.mkdir(parents=True, exist_ok=True)
    out = {"metrics": str(run_dir / "metrics.csv"), "predictions": str(run_dir / "predictions.parquet"),
           "comparisons": str(run_dir / "comparisons.csv")}
    neutralize_frame(ev.metrics).to_csv(out["metrics"], index=False)
    ev.predictions.to_parquet(out["predictions"], index=False)
    neutralize_frame(ev.comparisons).to_csv(out["comparisons"], index=False)
    sel_dir = run_dir / "selection"
    sel_dir.mkdir(exist_ok=True)
    for fs, record in ev.selection.items():
        (sel_dir / f"{fs}.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    if ev.odds_ratios is not None:
        out["odds_ratios"] = str(run_dir / "odds_ratios.csv")
        neutralize_frame(ev.odds_ratios).to_csv(out["odds_ratios"], index=False)
    return out
