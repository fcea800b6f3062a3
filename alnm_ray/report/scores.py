"""The report of a ``score_nomogram`` run (Zhang 2025), following the paper.

Sections: the protocol and where the run differs from the paper; Table 1;
the tumour- and LN-score formulas (with the selection counts); Table 2
(univariate and stepwise backward multivariable odds ratios of the clinical
and clinical-radiomics models) and the elimination path; Table 3 (AUC with
95 % CI, accuracy, sensitivity, specificity, PPV, NPV for the tumour score,
the LN score, the clinical and the clinical-radiomics model on every set);
DeLong, NRI and IDI against the clinical model and each single score; the
nomogram, its points table, the Nomo-score cut-off and the risk groups;
calibration with Hosmer-Lemeshow; ROC and decision curves and the clinical
impact curve per set; the reader study; the signed bundle.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.report import _html as H

#: Display names of the four models, in Table 3 order.
MODEL_ORDER: tuple[str, ...] = ("tumour_score", "LN_score", "clinical", "clinical_radiomics")


def _nomogram(doc: dict[str, Any]) -> Any:
    from alnm_ray.stats.nomogram import Nomogram, NomogramAxis

    n = doc["nomogram"]
    return Nomogram(float(n["intercept"]), tuple(NomogramAxis(a["name"], a["kind"], tuple(a["values"]),
                                                              tuple(a["effects"])) for a in n["axes"]))


def _table1(run: Path, predictions: pd.DataFrame) -> str:
    from alnm_ray.report.protocol import _table1 as table1

    labels = predictions[[C.COL_PATIENT, "set", C.COL_LABEL]].drop_duplicates([C.COL_PATIENT, "set"])
    labels[C.COL_PATIENT] = labels[C.COL_PATIENT].astype(str)
    members = {s: list(g[C.COL_PATIENT]) for s, g in labels.groupby("set", sort=False)}
    frame = labels.drop(columns=["set"]).drop_duplicates(C.COL_PATIENT)
    clinical = run / "clinical.csv"
    if clinical.is_file():
        clin = pd.read_csv(clinical)
        clin[C.COL_PATIENT] = clin[C.COL_PATIENT].astype(str)
        clin = clin.drop(columns=[c for c in (C.COL_LABEL, C.COL_SPLIT, C.COL_COHORT, C.COL_CENTER) if c in clin])
        frame = frame.merge(clin, on=C.COL_PATIENT, how="left")
    return table1(frame, members)


def _scores(out: Path) -> str:
    parts = ["<p class='note'>Each score is the linear predictor of the LASSO fitted on the training set "
             "(features z-scored with the training mean and SD given in <code>score_model/scores/*.json</code>); "
             "the other sets are scored with these frozen formulas. The scale column says what the score "
             "measures: <i>log-odds</i> for an L1-penalised logistic LASSO (a Rad-score, whose odds ratio is "
             "per unit of log-odds); empty for a squared-error LASSO (a linear probability).</p>"]
    rows = []
    for path in sorted((out / "scores").glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        rows.append({"score": doc["name"], "ROI": doc["sequence"], "scale": doc.get("scale") or "",
                     "input features": doc["input_features"], "LASSO features": len(doc["features"]),
                     "fallback": doc.get("fallback") or ""})
    parts.append(H.table(pd.DataFrame(rows)))
    formulas = (out / "formulas.txt").read_text(encoding="utf-8").strip().split("\n\n")
    parts.append("".join(f"<pre>{H.esc(f)}</pre>" for f in formulas))
    return "".join(parts)


def _table3(metrics: pd.DataFrame) -> str:
    parts = []
    for name, g in metrics.groupby("set", sort=False):
        g = g.set_index("feature_set").reindex([m for m in MODEL_ORDER if m in set(g.feature_set)]).reset_index()
        t = pd.DataFrame({"model": g["feature_set"],
                          "AUC (95% CI)": [f"{a:.3f} ({lo:.3f}–{hi:.3f})" for a, lo, hi in
                                           zip(g.auc, g.auc_low, g.auc_high)],
                          "ACC": g.accuracy, "SEN": g.sensitivity, "SPE": g.specificity, "PPV": g.ppv,
                          "NPV": g.npv, "threshold": g.threshold})
        parts.append(f"<h3>{H.esc(name)} (n = {int(g['n'].iloc[0])}, ALNM {int(g['n_positive'].iloc[0])})</h3>"
                     + H.table(t))
    return ("<p class='note'>Thresholds: each model's Youden cut-off on the training set (the clinical-radiomics "
            "model's is the Nomo-score cut-off), applied unchanged to the other sets.</p>" + "".join(parts))


def _curves(predictions: pd.DataFrame) -> str:
    from alnm_ray.plots import plot_clinical_impact, plot_decision_curves, plot_roc_curves

    figs = []
    for name, sub in predictions.groupby("set", sort=False):
        models, y = {}, None
        for m in MODEL_ORDER:
            rows = sub[sub.feature_set == m].sort_values(C.COL_PATIENT)
            if rows.empty:
                continue
            y = rows[C.COL_LABEL].to_numpy(int) if y is None else y
            models[m] = rows["probability"].to_numpy(float)
        if y is None or np.unique(y).size < 2:
            continue
        figs += [H.figure(plot_roc_curves(y, models), f"{name}: ROC curves."),
                 H.figure(plot_decision_curves(y, models), f"{name}: decision curves (net benefit)."),
                 H.figure(plot_clinical_impact(y, models["clinical_radiomics"], name="clinical-radiomics model"),
                          f"{name}: clinical impact curve of the clinical-radiomics model (per 1000).")]
    return f"<div class='figs'>{''.join(figs)}</div>"


def _calibration(out: Path, predictions: pd.DataFrame) -> str:
    from alnm_ray.plots import plot_calibration

    hl = pd.read_csv(out / "hosmer_lemeshow.csv")
    figs = []
    for name, sub in predictions[predictions.feature_set == "clinical_radiomics"].groupby("set", sort=False):
        y = sub[C.COL_LABEL].to_numpy(int)
        if np.unique(y).size == 2:
            figs.append(H.figure(plot_calibration(y, {"clinical_radiomics": sub["probability"].to_numpy(float)}),
                                 f"{name}: calibration of the clinical-radiomics model."))
    return ("<p class='note'>Hosmer-Lemeshow test per set and model (groups by deciles of predicted risk, fewer "
            "for small sets).</p>" + H.table(hl, floatfmt="{:.3g}") + f"<div class='figs'>{''.join(figs)}</div>")


def _nomogram_section(out: Path, doc: dict[str, Any]) -> str:
    from alnm_ray.plots import plot_nomogram

    nomo = _nomogram(doc)
    fig = plot_nomogram(nomo, title="Nomogram: clinical-radiomics model")
    cut = doc["risk_cutoff"]
    return (H.figure(fig, "Nomogram (also score_model/nomogram.png and .svg).")
            + "<h3>Points table</h3>" + H.table(pd.read_csv(out / "nomogram_points.csv"), floatfmt="{:.3g}")
            + f"<p>Nomo-score cut-off (training-set Youden): <b>{cut['points']:.1f}</b> points "
              f"(predicted probability {cut['probability']:.3f}); per-patient Nomo-scores in "
              "<code>score_model/nomo_scores.csv</code>.</p>"
            + "<h3>Risk groups: observed ALNM rate per set</h3>"
            + H.table(pd.read_csv(out / "risk_groups.csv"), floatfmt="{:.3g}"))


def build_score_report(run_dir: Any, out: Any = None) -> Path:
    """Write ``RUN/report.html`` of a score_nomogram run.

    Raises:
        FileNotFoundError: The run folder lacks the evaluation (run ``alnm-ray run`` first).
    """
    from alnm_ray.protocol import parse_protocol
    from alnm_ray.protocol.runner import PROTOCOL_FILE, STAGES_FILE, deviations
    from alnm_ray.report.protocol import _deviations_section

    run = Path(run_dir)
    folder = run / "score_model"
    doc_stages = json.loads((run / STAGES_FILE).read_text(encoding="utf-8"))
    protocol = parse_protocol((run / PROTOCOL_FILE).read_text(encoding="utf-8"), str(run / PROTOCOL_FILE))
    quick = bool(doc_stages["identity"].get("quick"))
    metrics = pd.read_csv(run / "metrics.csv")
    predictions = pd.read_parquet(run / "predictions.parquet")
    model_doc = json.loads((folder / "model.json").read_text(encoding="utf-8"))
    bundle = doc_stages["stages"].get("bundle", {})
    facts = {"protocol": f"{protocol.name} v{protocol.version} ({protocol.hash[:12]})",
             "citation": protocol.citation, "title": protocol.title,
             "final model": f"clinical-radiomics logistic model ({'signed' if bundle.get('signed') else 'unsigned'} "
                            f"bundle: {bundle.get('path')})",
             "stages": ", ".join(f"{k} {v.get('seconds', 0):.0f} s" for k, v in doc_stages["stages"].items())}
    sections = [("protocol", "Protocol", H.table(pd.DataFrame({"item": list(facts), "value": list(facts.values())}))),
                ("differs", "Where this run differs from the paper",
                 _deviations_section(protocol, deviations(protocol, quick))),
                ("table1", "Table 1: baseline by outcome within each set", _table1(run, predictions)),
                ("scores", "Tumour score and LN score", _scores(folder)),
                ("table2", "Table 2: univariate and stepwise backward multivariable logistic regression",
                 H.table(pd.read_csv(folder / "table2.csv", keep_default_na=False))
                 + "<h3>Backward elimination</h3>"
                 + H.table(pd.read_csv(folder / "backward_steps.csv"), floatfmt="{:.3g}")),
                ("table3", "Table 3: performance on every set", _table3(metrics))]
    comps = run / "comparisons.csv"
    if comps.stat().st_size > 1:
        sections.append(("comparisons", "Clinical-radiomics model vs the clinical model and each score "
                         "(DeLong, NRI, IDI)", H.table(pd.read_csv(comps), floatfmt="{:.3g}")))
    sections.append(("nomogram", "Nomogram, Nomo-score and risk groups", _nomogram_section(folder, model_doc)))
    sections.append(("calibration", "Calibration and Hosmer-Lemeshow", _calibration(folder, predictions)))
    sections.append(("curves", "ROC, decision curves and the clinical impact curve per set", _curves(predictions)))
    readers = folder / "reader_study.csv"
    sections.append(("readers", "Reader study (without / with the model)",
                     H.table(pd.read_csv(readers, keep_default_na=False), floatfmt="{:.3g}") if readers.is_file()
                     else "<p class='note'>No reader calls in this run.</p>"))
    target = Path(out) if out else run / "report.html"
    target.write_text(H.page(protocol.title, f"alnm-ray run · protocol {protocol.name} v{protocol.version}"
                             f"{' · --quick' if quick else ''}", sections), encoding="utf-8")
    return target
