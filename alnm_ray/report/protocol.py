"""The report of an ``alnm-ray run``: it follows the paper the protocol reproduces.

Sections: the protocol (name, version, hash, citation); **where this run
differs from the paper** (every ``assumed`` value with its reason, every
``--quick`` deviation); Table 1 -- baseline by outcome within each set;
selection counts per step (training set); repeated CV on the training set;
per-set metric tables for every classifier x feature set (AUC with 95 % CI,
accuracy, sensitivity, specificity, PPV, NPV, F1 at the training-set Youden
threshold); the paper's named comparisons (DeLong, NRI, IDI); the clinical
model's odds-ratio table when the protocol has one; ROC, calibration and
decision curves per set; the waterfall of the chosen model; the frozen bundle.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pandas as pd

from alnm_ray.report import _html as H
from alnm_ray.report.harmonization import TITLE as HARMONIZATION_TITLE
from alnm_ray.report.harmonization import harmonization_section, has_harmonization

logger = logging.getLogger(__name__)

#: Models drawn per set in the curve figures (the comparisons' and the final one).
MAX_CURVES = 6


def _deviations_section(protocol: Any, quick: list[dict[str, Any]]) -> str:
    rows = [{"key": a.key, "value used": json.dumps(a.value, default=str), "why": a.reason} for a in protocol.assumed]
    parts = ["<p class='note'>Values the paper does not state (the protocol's <code>assumed</code> list):</p>",
             H.table(pd.DataFrame(rows)) if rows else "<p>None.</p>"]
    if quick:
        parts += ["<p class='note'><b>--quick</b>: this run used a smaller design than the protocol; its numbers "
                  "are a smoke test, not the study.</p>", H.table(pd.DataFrame(quick))]
    else:
        parts.append("<p class='note'>The full design of the protocol was run (no --quick).</p>")
    return "".join(parts)


def _table1(cohort: pd.DataFrame, sets: dict[str, list[str]]) -> str:
    """Table 1 per set (training first, then each validation set), by outcome."""
    from alnm_ray.report.baseline import RULES_NOTE, baseline_table, display_table

    parts = [f"<p class='note'>{H.esc(RULES_NOTE)}</p>"]
    keep = [c for c in cohort.columns if c not in ("cohort", "center", "split")]
    for name, ids in sets.items():
        sub = cohort[cohort["patient_id"].astype(str).isin(ids)][keep]
        if sub.empty or sub["label"].nunique() < 2 or sub.shape[1] <= 2:
            continue
        parts.append(f"<h3>{H.esc(name)} (n = {len(sub)})</h3>"
                     + H.table(display_table(baseline_table(sub.drop(columns=["patient_id"])))))
    return "".join(parts) if len(parts) > 1 else "<p class='note'>No clinical variables to tabulate.</p>"


def _records(run: Path) -> dict[str, Any]:
    sel_dir = run / "selection"
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(sel_dir.glob("*.json"))} \
        if sel_dir.is_dir() else {}


def _selection(run: Path) -> str:
    records = _records(run)
    if not records:
        return "<p class='note'>No selection record.</p>"
    steps: dict[str, dict[str, int]] = {}
    order: list[str] = []
    for fs, rec in records.items():
        for step in rec.get("steps", []):
            if step["step"] not in order:
                order.append(step["step"])
            steps.setdefault(step["step"], {})[fs] = step["n"]
    table = pd.DataFrame(steps).T.loc[order].reset_index().rename(columns={"index": "step"})
    return ("<p class='note'>Features remaining after each step, selection fitted on the training set.</p>"
            + H.table(table, floatfmt="{:.0f}"))


def _metrics(metrics: pd.DataFrame) -> str:
    parts = []
    for name, group in metrics.groupby("set", sort=False):
        g = group.copy()
        g.insert(2, "model", g["feature_set"] + "/" + g["classifier"])
        g["AUC (95% CI)"] = [f"{a:.3f} ({lo:.3f}–{hi:.3f})" for a, lo, hi in zip(g.auc, g.auc_low, g.auc_high)]
        cols = ["model", "n", "n_positive", "AUC (95% CI)", "accuracy", "sensitivity", "specificity", "ppv",
                "npv", "f1", "threshold"]
        parts.append(f"<h3>{H.esc(name)} ({H.esc(group['role'].iloc[0])})</h3>" + H.table(g[cols]))
    return ("<p class='note'>Every model on every set; thresholds are each model's Youden cut-off on the "
            "training set, applied unchanged to the other sets.</p>" + "".join(parts))


def _curves(predictions: pd.DataFrame, chosen: list[tuple[str, str]]) -> str:
    from alnm_ray.plots import plot_calibration, plot_decision_curves, plot_roc_curves

    figs = []
    for name, sub in predictions.groupby("set", sort=False):
        models, y = {}, None
        for fs, clf in chosen[:MAX_CURVES]:
            rows = sub[(sub.feature_set == fs) & (sub.classifier == clf)].sort_values("patient_id")
            if rows.empty:
                continue
            y = rows["label"].to_numpy(int) if y is None else y
            if len(rows) != len(y):
                continue
            models[f"{fs}/{clf}"] = rows["probability"].to_numpy(float)
        if not models or y is None or len(set(y)) < 2:
            continue
        figs += [H.figure(plot_roc_curves(y, models), f"{name}: ROC curves."),
                 H.figure(plot_calibration(y, models), f"{name}: calibration curves."),
                 H.figure(plot_decision_curves(y, models), f"{name}: decision curves (net benefit).")]
    return f"<div class='figs'>{''.join(figs)}</div>" if figs else "<p class='note'>No curves.</p>"


def _waterfall(predictions: pd.DataFrame, models: list[tuple[str, str]]) -> str:
    from alnm_ray.plots import plot_waterfall

    figs = []
    for fs, clf in models:
        for name, sub in predictions[(predictions.feature_set == fs) & (predictions.classifier == clf)].groupby(
                "set", sort=False):
            figs.append(H.figure(plot_waterfall(sub["label"], sub["probability"], float(sub["threshold"].iloc[0])),
                                 f"{fs}/{clf}, {name}: probability minus threshold per patient."))
    return f"<div class='figs'>{''.join(figs)}</div>"


def build_protocol_report(run_dir: Any, out: Any = None) -> Path:
    """Write the HTML report of an ``alnm-ray run`` folder (default ``RUN/report.html``).

    Raises:
        FileNotFoundError: The run folder lacks the evaluation (run ``alnm-ray run`` first).
    """
    from alnm_ray.protocol import parse_protocol
    from alnm_ray.protocol.evaluate import set_membership
    from alnm_ray.protocol.runner import PROTOCOL_FILE, STAGES_FILE, SWEEP_DIR, deviations
    from alnm_ray.report.build import cv_summary

    run = Path(run_dir)
    doc = json.loads((run / STAGES_FILE).read_text(encoding="utf-8"))
    protocol = parse_protocol((run / PROTOCOL_FILE).read_text(encoding="utf-8"), str(run / PROTOCOL_FILE))
    quick = bool(doc["identity"].get("quick"))
    metrics = pd.read_csv(run / "metrics.csv")
    predictions = pd.read_parquet(run / "predictions.parquet")
    cohort = pd.read_csv(run / SWEEP_DIR / "cohort.csv")
    bundle = doc["stages"].get("bundle", {})
    sections = []
    facts = {"protocol": f"{protocol.name} v{protocol.version} ({protocol.hash[:12]})",
             "citation": protocol.citation, "title": protocol.title,
             "final model": f"{bundle.get('feature_set')}/{bundle.get('classifier')} "
                            f"({'signed' if bundle.get('signed') else 'unsigned'} bundle: {bundle.get('path')})",
             "stages": ", ".join(f"{k} {v.get('seconds', 0):.0f} s" for k, v in doc["stages"].items())}
    sections.append(("protocol", "Protocol", H.table(pd.DataFrame({"item": list(facts), "value": list(facts.values())}))))
    sections.append(("differs", "Where this run differs from the paper",
                     _deviations_section(protocol, deviations(protocol, quick))))
    full = pd.read_parquet(run / "predictions.parquet")[["patient_id", "set"]].drop_duplicates()
    members = {name: list(g["patient_id"].astype(str)) for name, g in full.groupby("set", sort=False)}
    clinical = run / "clinical.csv"
    # Every patient of every set (the sweep's cohort.csv holds the training split only).
    labels = predictions[["patient_id", "label"]].drop_duplicates("patient_id")
    labels["patient_id"] = labels["patient_id"].astype(str)
    if clinical.is_file():
        extra = pd.read_csv(clinical).drop(columns=["label", "split", "cohort", "center"], errors="ignore")
    else:
        extra = cohort.drop(columns=["label"], errors="ignore")
    extra["patient_id"] = extra["patient_id"].astype(str)
    table1 = labels.merge(extra, on="patient_id", how="left")
    sections.append(("table1", "Table 1: baseline by outcome within each set", _table1(table1, members)))
    sections.append(("selection", "Feature selection", _selection(run)))
    records = _records(run)
    if has_harmonization(records):
        sections.append(("harmonization", HARMONIZATION_TITLE, harmonization_section(records)))
    cv = pd.read_parquet(run / SWEEP_DIR / "cv_results.parquet")
    sections.append(("cv", "Repeated cross-validation (training set)",
                     H.table(cv_summary(cv).drop(columns=["_auc"]))))
    sections.append(("metrics", "Performance per set", _metrics(metrics)))
    comps = pd.read_csv(run / "comparisons.csv") if (run / "comparisons.csv").stat().st_size > 1 else pd.DataFrame()
    if protocol.comparisons:
        sections.append(("comparisons", "The paper's comparisons",
                         H.table(comps, floatfmt="{:.3g}") if not comps.empty else
                         "<p class='note'>No comparison could be computed (one class in a set?).</p>"))
    if (run / "odds_ratios.csv").is_file():
        sections.append(("odds", "Clinical model: univariate and multivariable logistic regression",
                         H.table(pd.read_csv(run / "odds_ratios.csv"), floatfmt="{:.3g}")))
    chosen = [m for c in protocol.comparisons for m in c.models]
    final = (bundle.get("feature_set"), bundle.get("classifier"))
    chosen = list(dict.fromkeys(([final] if all(final) else []) + chosen + list(protocol.waterfall)))
    if not chosen:
        chosen = [tuple(x) for x in metrics[["feature_set", "classifier"]].drop_duplicates().to_numpy()][:MAX_CURVES]
    sections.append(("curves", "ROC, calibration and decision curves per set", _curves(predictions, chosen)))
    if protocol.waterfall:
        sections.append(("waterfall", "Waterfall", _waterfall(predictions, list(protocol.waterfall))))
    _ = set_membership  # the sets above come from the evaluation's predictions
    target = Path(out) if out else run / "report.html"
    target.write_text(H.page(f"{protocol.title}", f"alnm-ray run · protocol {protocol.name} v{protocol.version}"
                             f"{' · --quick' if quick else ''}", sections), encoding="utf-8")
    return target
