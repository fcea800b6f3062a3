"""``alnm-ray report``: one self-contained HTML page from a ``tune`` run folder.

Reads the run folder written by ``alnm-ray tune`` (``run.json``,
``cv_results.parquet``, ``summary.csv``, ``holdout_predictions.parquet``,
``selection/*.json``, ``holdout_permutation_importance.csv``,
``external_predictions.parquet``, ``cohort.csv``) and
writes a page a clinician can read: cohort, feature selection, CV and hold-out
performance with confidence intervals, model comparisons, plots, the features' IBSI
conformance, links to the CLEAR/TRIPOD+AI checklists (written into the run folder)
and provenance.
Images are inlined, so the file can be mailed or archived alone.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from alnm_ray.exceptions import RunFolderError
from alnm_ray.model.permutation import PERMUTATION_FILE
from alnm_ray.report import _html as H
from alnm_ray.report.baseline import RULES_NOTE, baseline_table, display_table
from alnm_ray.report.harmonization import TITLE as HARMONIZATION_TITLE
from alnm_ray.report.harmonization import harmonization_section, has_harmonization
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

#: Files a run folder must hold for a report.
REQUIRED_FILES = ("run.json", "cv_results.parquet")
#: Features per model in the permutation-importance table and plot.
IMPORTANCE_TOP = 15
#: Bootstrap replicates for the report's intervals (DeLong intervals need none).
DEFAULT_N_BOOT = 1000


def _read_run(run: Path) -> dict:
    missing = [f for f in REQUIRED_FILES if not (run / f).exists()]
    if missing:
        raise RunFolderError(
            f"{run}: expected a run folder written by 'alnm-ray tune' holding {', '.join(REQUIRED_FILES)}; "
            f"missing {', '.join(missing)}. Run 'alnm-ray tune --out {run}' first, or point at its folder.")
    data: dict = {"run": json.loads((run / "run.json").read_text(encoding="utf-8")),
                  "cv": pd.read_parquet(run / "cv_results.parquet")}
    for name, reader in (("holdout", "holdout_predictions.parquet"), ("external", "external_predictions.parquet")):
        path = run / reader
        data[name] = pd.read_parquet(path) if path.exists() else None
    data["importance"] = pd.read_csv(run / PERMUTATION_FILE) if (run / PERMUTATION_FILE).exists() else None
    data["cohort"] = pd.read_csv(run / "cohort.csv") if (run / "cohort.csv").exists() else None
    data["selection"] = {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted((run / "selection").glob("*.json"))} \
        if (run / "selection").is_dir() else {}
    return data


def cv_summary(cv: pd.DataFrame) -> pd.DataFrame:
    """Mean ± SD over repeats × folds per feature set and classifier (AUC first)."""
    metrics = [m for m in ("auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1") if m in cv]
    grouped = cv.groupby(["feature_set", "classifier"], sort=True)[metrics]
    mean, sd = grouped.mean(), grouped.std(ddof=1)
    out = pd.DataFrame(index=mean.index)
    for m in metrics:
        out[m] = [f"{a:.3f} ± {b:.3f}" if np.isfinite(b) else f"{a:.3f}" for a, b in zip(mean[m], sd[m])]
    out["_auc"] = mean["auc"]
    return out.reset_index()


def _best_per_set(summary: pd.DataFrame) -> dict[str, str]:
    idx = summary.groupby("feature_set")["_auc"].idxmax()
    return {summary.loc[i, "feature_set"]: summary.loc[i, "classifier"] for i in idx}


def _section_overview(run: dict, cv: pd.DataFrame, cohort: pd.DataFrame | None) -> str:
    facts = {
        "preset": run.get("preset"), "feature sets": ", ".join(run.get("feature_sets", [])),
        "classifiers": ", ".join(run.get("classifiers", [])),
        "cross-validation": f"{run.get('repeats')} repeats × {run.get('folds')}-fold, seed {run.get('seed')}",
        "CV rows": len(cv), "wall time": f"{run.get('wall_seconds', float('nan')):.0f} s",
    }
    if cohort is not None:
        facts.update({"patients": len(cohort), "centres": cohort["center"].nunique() if "center" in cohort else "—",
                      "ALNM+ prevalence": f"{cohort['label'].mean():.1%}" if "label" in cohort else "—"})
    rows = pd.DataFrame({"item": list(facts), "value": [str(v) for v in facts.values()]})
    return H.table(rows) + ("<p class='note'>Every learned step (SMOTE, scaling, selection, stacking) is "
                            "refitted inside each training fold; test folds never inform selection.</p>")


def _section_cohort(cohort: pd.DataFrame) -> str:
    parts = ["<h3>Baseline characteristics by ALNM status</h3>", f"<p class='note'>{H.esc(RULES_NOTE)}</p>",
             H.table(display_table(baseline_table(cohort)))]
    if "split" in cohort and cohort["split"].notna().any():
        parts += ["<h3>Baseline characteristics by split</h3>",
                  H.table(display_table(baseline_table(cohort.drop(columns=["label"], errors="ignore")
                                                       .assign(label=cohort["split"]), by="label")))]
    return "".join(parts)


def _section_selection(selection: dict) -> str:
    from alnm_ray.plots import plot_feature_weights, plot_lasso_cv, plot_lasso_path

    if not selection:
        return "<p class='note'>No selection record in this run.</p>"
    steps: dict[str, dict[str, int]] = {}
    order: list[str] = []  # pipeline order, merged across feature sets (clinical has no ICC step)
    figs = []
    for fs, rec in selection.items():
        previous: str | None = None
        for step in rec.get("steps", []):
            name = step["step"]
            if name not in order:
                order.insert(order.index(previous) + 1 if previous is not None and previous in order
                             else len(order), name)
            previous = name
            steps.setdefault(name, {})[fs] = step["n"]
        lasso = rec.get("lasso") or {}
        if lasso.get("alphas") and lasso.get("mse_mean"):
            figs.append(H.figure(plot_lasso_cv(lasso["alphas"], lasso["mse_mean"], lasso.get("mse_std"),
                                               lasso.get("alpha_min"), title=f"LASSO CV — {fs}"),
                                 f"{fs}: cross-validated MSE against λ (λ at minimum MSE marked)."))
        if lasso.get("coef_path") and lasso.get("path_features"):
            figs.append(H.figure(plot_lasso_path(lasso["alphas"], np.asarray(lasso["coef_path"]),
                                                 lasso["path_features"], alpha_min=lasso.get("alpha_min"),
                                                 title=f"LASSO path — {fs}"), f"{fs}: coefficient paths."))
        if lasso.get("coefs"):
            names, weights = list(lasso["coefs"]), list(lasso["coefs"].values())
            figs.append(H.figure(plot_feature_weights(names, weights, top=25, title=f"Selected features — {fs}"),
                                 f"{fs}: LASSO coefficients of the selected features."))
    table = pd.DataFrame(steps).T.loc[order].reset_index().rename(columns={"index": "step"})
    return ("<h3>Features remaining after each step (hold-out training set)</h3>" + H.table(table, floatfmt="{:.0f}")
            + f"<div class='figs'>{''.join(figs)}</div>")


def _section_cv(summary: pd.DataFrame) -> str:
    best = _best_per_set(summary)
    parts = []
    for fs, group in summary.groupby("feature_set", sort=True):
        group = group.reset_index(drop=True)
        hi = int(group.index[group["classifier"] == best[fs]][0])
        parts.append(f"<h3>{H.esc(fs)}</h3>" + H.table(group.drop(columns=["feature_set", "_auc"]), highlight=hi))
    return "<p class='note'>Mean ± SD over all repeats and folds; the best AUC per feature set is highlighted.</p>" \
        + "".join(parts)


def _holdout_models(holdout: pd.DataFrame, best: dict[str, str]) -> tuple[np.ndarray, dict, dict, pd.DataFrame]:
    test = holdout[holdout["split"] == "test"]
    models, thresholds = {}, {}
    base = None
    for fs, clf in best.items():
        rows = test[(test.feature_set == fs) & (test.classifier == clf)].sort_values("patient_id")
        if rows.empty:
            continue
        base = rows if base is None else base
        if list(rows["patient_id"]) != list(base["patient_id"]):
            continue
        name = f"{fs}-{clf}"
        models[name] = rows["probability"].to_numpy(float)
        thresholds[name] = float(rows["threshold"].iloc[0]) if "threshold" in rows else None
    return (base["label"].to_numpy(int) if base is not None else np.array([])), models, thresholds, base


def _section_holdout(holdout: pd.DataFrame, best: dict[str, str], n_boot: int, seed: int) -> tuple[str, str]:
    from alnm_ray.plots import plot_calibration, plot_decision_curves, plot_roc, plot_roc_curves, plot_waterfall
    from alnm_ray.stats import evaluate_models

    y, models, thresholds, base = _holdout_models(holdout, best)
    if not models or len(np.unique(y)) < 2:
        return "<p class='note'>No hold-out test predictions with both classes.</p>", ""
    thr = {k: v for k, v in thresholds.items() if v is not None} or None
    result = evaluate_models(y, models, threshold=thr, n_boot=n_boot, seed=seed, hl_groups=10 if len(y) >= 50 else 5)
    rows = []
    for name, m in result["models"].items():
        lo, hi = m["auc_ci_delong"]
        rows.append({"model": name, "AUC (95% CI, DeLong)": f"{m['auc']:.3f} ({lo:.3f}–{hi:.3f})",
                     **{k: m.get(k) for k in ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1")},
                     "threshold": m.get("threshold"), "Brier": m.get("brier"),
                     "HL p": (m.get("hosmer_lemeshow") or {}).get("p")})
    table = pd.DataFrame(rows)
    best_model = max(result["models"], key=lambda k: result["models"][k]["auc"])
    figs = [H.figure(plot_roc_curves(y, models), "ROC curves of the best classifier per feature set (test set)."),
            H.figure(plot_roc(y, models[best_model], name=best_model, seed=seed),
                     f"{best_model}: ROC with bootstrap band and Youden point."),
            H.figure(plot_calibration(y, models), "Calibration curves (test set)."),
            H.figure(plot_decision_curves(y, models), "Decision curves: net benefit against threshold probability."),
            H.figure(plot_waterfall(y, models[best_model], thresholds.get(best_model) or 0.5),
                     f"{best_model}: predicted probability minus threshold per patient, coloured by true status.")]
    perf = ("<p class='note'>Thresholds are Youden-optimal on the training set and applied unchanged to the "
            f"test set ({len(y)} patients, {int(y.sum())} ALNM+).</p>" + H.table(table)
            + f"<div class='figs'>{''.join(figs)}</div>")
    comp_rows = [{"A": c["a"], "B": c["b"], "ΔAUC": c.get("auc_diff"), "DeLong Z": c.get("delong_z"),
                  "DeLong p": c.get("delong_p"), "NRI": c.get("nri"), "NRI p": c.get("nri_p"),
                  "IDI": c.get("idi"), "IDI p": c.get("idi_p")} for c in result["comparisons"]]
    comp = H.table(pd.DataFrame(comp_rows), floatfmt="{:.3g}") if comp_rows else \
        "<p class='note'>One model only: nothing to compare.</p>"
    return perf, comp


def _section_importance(importance: pd.DataFrame, best: dict[str, str]) -> str:
    """Permutation importance on the hold-out test set of the best classifier per feature set."""
    from alnm_ray.plots import plot_feature_weights

    rows, figs = [], []
    for fs, clf in best.items():
        sub = importance[(importance.feature_set == fs) & (importance.classifier == clf)]
        if sub.empty:
            continue
        sub = sub.sort_values("auc_drop_mean", ascending=False, kind="stable").head(IMPORTANCE_TOP)
        rows.append(sub)
        if (sub["auc_drop_mean"] != 0).any():
            figs.append(H.figure(plot_feature_weights(sub["feature"], sub["auc_drop_mean"].to_numpy(float),
                                                      xlabel="drop in test AUC", title=f"Permutation importance — {fs}-{clf}"),
                                 f"{fs}-{clf}: mean drop in hold-out AUC when each selected feature is shuffled."))
    if not rows:
        return "<p class='note'>No permutation importance in this run (hold-out test set with one class?).</p>"
    table = pd.concat(rows, ignore_index=True)[["feature_set", "classifier", "feature", "auc_drop_mean", "auc_drop_sd"]]
    return ("<p class='note'>A model-agnostic check of what the models use: each selected feature is shuffled "
            f"in the hold-out test rows (scikit-learn <code>permutation_importance</code>, ROC AUC; the top "
            f"{IMPORTANCE_TOP} per feature set, best classifier by CV AUC). Near-zero or negative drops mean the "
            "model does not rely on that feature on unseen patients.</p>"
            + H.table(table, floatfmt="{:.4f}") + f"<div class='figs'>{''.join(figs)}</div>")


def _section_external(external: pd.DataFrame, best: dict[str, str]) -> str:
    from alnm_ray.plots import plot_center_rocs
    from alnm_ray.stats import roc_auc

    rows, figs = [], []
    for fs, clf in best.items():
        sub = external[(external.feature_set == fs) & (external.classifier == clf)]
        for centre, g in sub.groupby("held_out_center"):
            auc = roc_auc(g["label"], g["probability"]) if g["label"].nunique() == 2 else float("nan")
            rows.append({"feature set": fs, "classifier": clf, "held-out centre": centre, "patients": len(g),
                         "ALNM+": int(g["label"].sum()), "AUC": auc})
        if not sub.empty and sub["label"].nunique() == 2:
            figs.append(H.figure(plot_center_rocs(sub["label"], sub["probability"], sub["held_out_center"],
                                                  title=f"Leave-one-centre-out — {fs}-{clf}"),
                                 f"{fs}-{clf}: ROC per held-out centre."))
    return ("<p class='note'>Each centre is predicted by a model trained on the other centres only.</p>"
            + H.table(pd.DataFrame(rows)) + f"<div class='figs'>{''.join(figs)}</div>")


def _section_provenance(run: dict) -> str:
    flat = {k: v for k, v in run.items() if k not in ("holdout",)}
    holdout = run.get("holdout") or {}
    flat["holdout"] = {k: v for k, v in holdout.items() if not k.endswith("_patients")}
    return f"<pre><code>{H.esc(json.dumps(flat, indent=2, default=str))}</code></pre>"


def _section_standards(run_path: Path, target: Path) -> str:
    """Feature identity (IBSI) and the reporting checklists, written next to the report."""
    import os

    from alnm_ray.standards.checklist import RunFacts, write_checklists

    paths = write_checklists(run_path)
    facts = RunFacts(run_path)
    parts = []
    d = facts.dictionary
    if d is not None and not d.empty:
        status = d["conformance"].str.split(r" \(|;", regex=True).str[0]
        counts = (d.assign(status=status).groupby(["table", "status"]).size().rename("columns").reset_index())
        parts.append("<p class='note'>IBSI conformance of every stored feature column (store table "
                     "<code>feature_dictionary</code>): IBSI-conformant = same definition as IBSI-1 and the same "
                     "value on the IBSI digital phantom (<code>alnm-ray ibsi check</code>); differs by convention "
                     "= a documented convention (e.g. kurtosis + 3, fixed-bin-size edges) separates it from IBSI; "
                     "not in IBSI = no IBSI-1 feature.</p>" + H.table(counts, floatfmt="{:.0f}"))
    else:
        parts.append(f"<p class='note'>No feature dictionary found ({H.esc(facts.store_note or 'none in the store')})"
                     "; run <code>alnm-ray extract</code> to write one.</p>")
    links = []
    for kind, path in paths.items():
        rel = os.path.relpath(path, target.parent) if target.parent.exists() else str(path)
        links.append(f"<a href='{H.esc(rel)}'>{H.esc(path.name)}</a>")
    lists = json.loads(paths["json"].read_text(encoding="utf-8"))["checklists"]
    summary = ", ".join(f"{name}: {sum(i['status'] != 'for the authors' for i in items)} of {len(items)} items "
                        "answered from the run" for name, items in lists.items())
    parts.append(f"<p>Reporting checklists (CLEAR, TRIPOD+AI): {' · '.join(links)} — {H.esc(summary)}; the other "
                 "items are marked for the authors.</p>")
    return "".join(parts)


def build_report(run_dir: PathLike, out: PathLike | None = None, *, n_boot: int = DEFAULT_N_BOOT,
                 seed: int = 0) -> Path:
    """Write the HTML report of a tune run.

    Args:
        run_dir: Folder written by ``alnm-ray tune``.
        out: HTML file to write (default ``RUN/report.html``).
        n_boot: Bootstrap replicates for intervals.
        seed: Seed of the bootstrap.

    Returns:
        The path of the written report.

    Raises:
        RunFolderError: When required files are missing.
    """
    run_path = Path(run_dir)
    if (run_path / "stages.json").is_file():  # an `alnm-ray run` folder: the report follows its protocol's paper
        from alnm_ray.report.protocol import build_protocol_report

        return build_protocol_report(run_path, out)
    data = _read_run(run_path)
    run, cv, cohort = data["run"], data["cv"], data["cohort"]
    summary = cv_summary(cv)
    best = _best_per_set(summary)
    sections = [("overview", "Overview", _section_overview(run, cv, cohort))]
    if cohort is not None and "label" in cohort:
        sections.append(("cohort", "Cohort", _section_cohort(cohort)))
    sections.append(("selection", "Feature selection", _section_selection(data["selection"])))
    if has_harmonization(data["selection"]):
        sections.append(("harmonization", HARMONIZATION_TITLE, harmonization_section(data["selection"])))
    sections.append(("cv", "Cross-validation", _section_cv(summary)))
    if data["holdout"] is not None:
        perf, comp = _section_holdout(data["holdout"], best, n_boot, seed)
        sections.append(("holdout", "Hold-out test set", perf))
        if comp:
            sections.append(("comparisons", "Model comparisons (DeLong, NRI, IDI)", comp))
    if data["importance"] is not None:
        sections.append(("importance", "Permutation importance (hold-out test set)",
                         _section_importance(data["importance"], best)))
    if data["external"] is not None and not data["external"].empty:
        sections.append(("external", "External validation by centre", _section_external(data["external"], best)))
    target = Path(out) if out else run_path / "report.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    sections.append(("standards", "Feature identity and reporting standards", _section_standards(run_path, target)))
    sections.append(("provenance", "Provenance", _section_provenance(run)))
    title = "ALNM prediction — model report"
    subtitle = f"run {run_path.name} · preset {run.get('preset')} · store {run.get('store')}"
    target.write_text(H.page(title, subtitle, sections), encoding="utf-8")
    logger.info("report written (%d sections)", len(sections))
    from alnm_ray.tracking import log_report  # into the run's MLflow run, when `tune --mlflow-uri` tracked it

    log_report(run_path, target)
    return target
