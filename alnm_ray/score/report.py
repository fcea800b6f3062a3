"""External-validation and drift reports written next to the predictions.

For an output ``predictions.parquet`` the files are::

    predictions.validation.json   full evaluate_models() document per cohort
    predictions.validation.csv    one row per cohort: AUC (95 % CIs), sensitivity, …
    predictions.validation.md     the same as a Markdown table
    predictions.drift.json / .csv / .md   PSI and KS per (cohort, selected feature)
    predictions.errors.csv        per-patient failures (when there are any)
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray.constants import COL_COHORT, COL_LABEL
from alnm_ray.csvsafe import neutralize_frame
from alnm_ray.score.drift import DRIFT_ALPHA, PSI_MODERATE, PSI_SIGNIFICANT

logger = logging.getLogger(__name__)

#: Bootstrap replicates for the validation intervals (stats' default is larger;
#: 1 000 keeps the percentile CI's Monte-Carlo error near 0.01 at 95 %).
DEFAULT_N_BOOT = 1000
#: Columns of the compact validation table.
SUMMARY_COLUMNS: tuple[str, ...] = (
    "cohort", "n", "n_events", "auc", "auc_ci_low", "auc_ci_high", "auc_ci_method", "threshold",
    "accuracy", "sensitivity", "sensitivity_ci", "specificity", "specificity_ci", "ppv", "npv", "f1",
    "brier", "tp", "fp", "tn", "fn",
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _ci(pair: Any) -> str:
    if not pair or any(v is None for v in pair):
        return "—"
    return f"{pair[0]:.3f}–{pair[1]:.3f}"


def external_validation(predictions: pd.DataFrame, *, threshold: float, model_name: str,
                        n_boot: int = DEFAULT_N_BOOT, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Evaluate predictions against known labels, per cohort.

    Args:
        predictions: Rows with ``cohort``, ``label`` (nullable 0/1) and ``probability``.
        threshold: The bundle's threshold (held fixed: it is not re-optimised on the new cohort).
        model_name: Name of the model in the documents (the bundle id).
        n_boot: Bootstrap replicates for the intervals.
        seed: Bootstrap seed (recorded in each document).

    Returns:
        ``{cohort: evaluate_models document}`` for every cohort with labels of
        both classes; a cohort with labels of one class only gets
        ``{"skipped": reason}``.  Cohorts without labels are absent.
    """

    out: dict[str, dict[str, Any]] = {}
    if COL_LABEL not in predictions.columns:
        return out
    for cohort, rows in predictions.groupby(COL_COHORT, sort=True):
        labelled = rows[rows[COL_LABEL].notna() & rows["probability"].notna()]
        if labelled.empty:
            continue
        y = labelled[COL_LABEL].astype(int).to_numpy()
        if len(set(y.tolist())) < 2:
            out[str(cohort)] = {"skipped": f"labels of one class only ({len(y)} patient(s), all {y[0]}); "
                                "AUC, sensitivity and specificity need both classes"}
            continue
        from alnm_ray.stats import evaluate_models  # statsmodels: ~1 s, only for labelled cohorts

        out[str(cohort)] = evaluate_models(y, {model_name: labelled["probability"].to_numpy(float)},
                                           threshold=threshold, n_boot=n_boot, seed=seed,
                                           hl_groups=min(10, max(2, len(y) // 10)))
    return out


def summary_table(validation: Mapping[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per validated cohort with :data:`SUMMARY_COLUMNS`."""
    rows = []
    for cohort, doc in validation.items():
        if "skipped" in doc:
            continue
        (m,) = doc["models"].values()
        ci = m.get("auc_ci_delong") or [None, None]
        boot = m.get("ci_bootstrap", {})
        rows.append({
            "cohort": cohort, "n": m["n"], "n_events": m["n_events"], "auc": m["auc"],
            "auc_ci_low": ci[0], "auc_ci_high": ci[1], "auc_ci_method": "DeLong", "threshold": m["threshold"],
            "accuracy": m["accuracy"], "sensitivity": m["sensitivity"],
            "sensitivity_ci": _ci(boot.get("sensitivity")), "specificity": m["specificity"],
            "specificity_ci": _ci(boot.get("specificity")), "ppv": m["ppv"], "npv": m["npv"], "f1": m["f1"],
            "brier": m["brier"], "tp": m["tp"], "fp": m["fp"], "tn": m["tn"], "fn": m["fn"],
        })
    return pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))


def validation_text(validation: Mapping[str, dict[str, Any]]) -> str:
    """Human-readable lines, one per cohort, for the terminal."""
    lines = []
    for cohort, doc in validation.items():
        if "skipped" in doc:
            lines.append(f"{cohort}: external validation skipped: {doc['skipped']}")
            continue
        (m,) = doc["models"].values()
        lines.append(
            f"{cohort}: n={m['n']} ({m['n_events']} positive)  AUC {_fmt(m['auc'])} "
            f"(95% CI {_ci(m.get('auc_ci_delong'))}, DeLong)  at threshold {_fmt(m['threshold'])}: "
            f"sensitivity {_fmt(m['sensitivity'])}, specificity {_fmt(m['specificity'])}, "
            f"accuracy {_fmt(m['accuracy'])}, PPV {_fmt(m['ppv'])}, NPV {_fmt(m['npv'])}, F1 {_fmt(m['f1'])}")
    return "\n".join(lines)


def drift_text(drift: pd.DataFrame) -> str:
    """Lines naming each flagged (cohort, feature)."""
    if drift.empty or not drift["flagged"].any():
        return "drift: no selected feature flagged"
    flagged = drift[drift["flagged"]]
    lines = [f"drift: {len(flagged)} of {len(drift)} (cohort, feature) pair(s) flagged "
             f"(KS or binned chi-square p < {DRIFT_ALPHA}, Holm-adjusted over the cohort's tests):"]
    for r in flagged.head(20).itertuples(index=False):
        lines.append(f"  {r.cohort}: {r.feature}  PSI {_fmt(r.psi)} ({r.psi_level})  KS D {_fmt(r.ks_statistic)} "
                     f"p_adj {_fmt(r.ks_pvalue_adjusted, 4)}")
    if len(flagged) > 20:
        lines.append(f"  … and {len(flagged) - 20} more (see the drift report)")
    return "\n".join(lines)


def _markdown(frame: pd.DataFrame) -> str:
    if frame.empty:
        return "_none_\n"
    cols = list(frame.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in frame.itertuples(index=False):
        lines.append("| " + " | ".join(_fmt(v) if isinstance(v, (float, np.floating)) else str(v)
                                       for v in row) + " |")
    return "\n".join(lines) + "\n"


def report_paths(out: str | Path) -> dict[str, Path]:
    """Paths of the report files next to ``out`` (``x.parquet`` -> ``x.validation.json`` …)."""
    base = Path(out)
    stem = base.with_suffix("") if base.suffix else base
    names = ("validation.json", "validation.csv", "validation.md", "drift.json", "drift.csv", "drift.md",
             "errors.csv")
    return {n: stem.parent / f"{stem.name}.{n}" for n in names}


def write_reports(out: str | Path, *, bundle_id: str, validation: Mapping[str, dict[str, Any]],
                  drift: pd.DataFrame, errors: pd.DataFrame) -> list[Path]:
    """Write the validation, drift and error reports next to ``out``.

    Returns:
        The paths written.
    """
    paths = report_paths(out)
    paths["validation.json"].parent.mkdir(parents=True, exist_ok=True)
    written = []
    if validation:
        paths["validation.json"].write_text(json.dumps({"bundle_id": bundle_id, "cohorts": validation},
                                                       indent=1, default=str), encoding="utf-8")
        table = summary_table(validation)
        neutralize_frame(table).to_csv(paths["validation.csv"], index=False)
        skipped = [f"- {c}: {d['skipped']}" for c, d in validation.items() if "skipped" in d]
        paths["validation.md"].write_text(
            f"# External validation of bundle {bundle_id}\n\nThreshold fixed at the bundle's value; "
            "AUC 95 % CI by DeLong, other intervals by stratified bootstrap.\n\n" + _markdown(table)
            + ("\nSkipped:\n" + "\n".join(skipped) + "\n" if skipped else ""), encoding="utf-8")
        written += [paths["validation.json"], paths["validation.csv"], paths["validation.md"]]
    drift_json = {"bundle_id": bundle_id, "thresholds": {
        "psi_significant": PSI_SIGNIFICANT, "psi_moderate": PSI_MODERATE, "alpha_bonferroni": DRIFT_ALPHA},
        "rows": json.loads(drift.to_json(orient="records"))}
    paths["drift.json"].write_text(json.dumps(drift_json, indent=1), encoding="utf-8")
    neutralize_frame(drift).to_csv(paths["drift.csv"], index=False)
    shown = drift.loc[:, [c for c in ("cohort", "feature", "psi", "psi_level", "psi_pvalue_adjusted",
                                      "ks_statistic", "ks_pvalue_adjusted", "flagged") if c in drift.columns]]
    paths["drift.md"].write_text(
        f"# Drift of the selected features vs the training data (bundle {bundle_id})\n\n"
        f"Flagged when the KS or the binned chi-square p-value, Holm-adjusted over all of a "
        f"cohort's tests, is < {DRIFT_ALPHA} (beyond the sampling noise of the cohort's size). PSI "
        f"is descriptive (level n/a where the cohort is too small for binning).\n\n"
        + _markdown(shown), encoding="utf-8")
    written += [paths["drift.json"], paths["drift.csv"], paths["drift.md"]]
    if len(errors):
        neutralize_frame(errors).to_csv(paths["errors.csv"], index=False)
        written.append(paths["errors.csv"])
    return written
