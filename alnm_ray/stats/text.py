"""Plain-text rendering of a compare report (aligned columns, for terminals and logs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["format_compare_table"]

#: Shown for undefined (null) values.
NA = "n/a"
#: Marks an interval that does not contain its point estimate (explained below the table).
EXCLUDES_MARK = "†"
#: The explanation printed once when any interval carries :data:`EXCLUDES_MARK`.
EXCLUDES_NOTE = (f"{EXCLUDES_MARK} the percentile bootstrap interval does not contain the point estimate: "
                 "the replicates' distribution is skewed or lumpy (few events, many tied "
                 "predictions, or few replicates). Read it with caution; for the AUC prefer the "
                 "DeLong interval, or re-run with more --n-boot replicates.")


def _excludes(value: Any, ci: Sequence[Any] | None) -> bool:
    """True when ``value`` lies outside a defined interval ``ci`` (beyond rounding)."""
    if value is None or not ci or ci[0] is None or ci[1] is None:
        return False
    tol = 1e-9 * max(1.0, abs(value))
    return value < ci[0] - tol or value > ci[1] + tol


def _f(x: Any, digits: int = 3) -> str:
    if x is None:
        return NA
    if isinstance(x, int) and not isinstance(x, bool):
        return str(x)
    return f"{x:.{digits}f}"


def _p(x: Any) -> str:
    if x is None:
        return NA
    return "<0.001" if x < 0.001 else f"{x:.3f}"


def _ci(ci: Sequence[Any] | None, digits: int = 3) -> str:
    if not ci or ci[0] is None or ci[1] is None:
        return NA
    return f"[{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"


def _with_ci(value: Any, ci: Sequence[Any] | None) -> str:
    mark = EXCLUDES_MARK if _excludes(value, ci) else ""
    return f"{_f(value)} {_ci(ci)}{mark}" if ci else _f(value)


def _grid(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(  # noqa: E731
        str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(r, widths))
    ).rstrip()
    return [line(header), line(["-" * w for w in widths]), *[line(r) for r in rows]]


def format_compare_table(report: Mapping[str, Any]) -> str:
    """Render :func:`~alnm_ray.stats.evaluate_models` output as aligned text tables.

    Args:
        report: The compare document.

    Returns:
        Three blocks: per-model metrics (one column per model, intervals in
        parentheses), net benefit by threshold (with treat-all), and the
        pairwise comparisons.  A bootstrap interval that does not contain
        its estimate is marked with :data:`EXCLUDES_MARK` and explained once
        at the end (:data:`EXCLUDES_NOTE`), never printed silently.
    """
    meta = report.get("meta", {})
    models: Mapping[str, Any] = report["models"]
    names = list(models)
    level = meta.get("level", 0.95)
    pct = f"{level * 100:g}%"
    out = []
    if meta:
        out.append(f"{meta.get('n')} patients ({meta.get('n_events')} events, "
                   f"{meta.get('n_nonevents')} non-events); {pct} intervals; bootstrap "
                   f"{meta.get('n_boot')} stratified replicates, seed {meta.get('seed')}")
        out.append("")
    m = [models[n] for n in names]
    cib = [x.get("ci_bootstrap", {}) for x in m]
    rows = [
        ["AUC", *[_f(x["auc"]) for x in m]],
        [f"  {pct} CI DeLong", *[_ci(x["auc_ci_delong"]) for x in m]],
        [f"  {pct} CI bootstrap", *[_ci(x["auc_ci_bootstrap"])
                                    + (EXCLUDES_MARK if _excludes(x["auc"], x["auc_ci_bootstrap"]) else "")
                                    for x in m]],
        ["threshold", *[f"{_f(x['threshold'])} ({x.get('threshold_source', '?')})" for x in m]],
        ["Youden threshold", *[_f(x["youden_threshold"]) for x in m]],
    ]
    for key, label in (("accuracy", "accuracy"), ("sensitivity", "sensitivity (recall)"),
                       ("specificity", "specificity"), ("ppv", "PPV (precision)"),
                       ("npv", "NPV"), ("f1", "F1")):
        rows.append([label, *[_with_ci(x[key], c.get(key)) for x, c in zip(m, cib)]])
    if all("tp" in x for x in m):
        rows.append(["TP/FP/TN/FN", *[f"{x['tp']}/{x['fp']}/{x['tn']}/{x['fn']}" for x in m]])
    rows += [
        ["Brier", *[_with_ci(x["brier"], c.get("brier")) for x, c in zip(m, cib)]],
        ["calibration intercept", *[_f(x.get("calibration_intercept")) for x in m]],
        ["calibration slope", *[_f(x.get("calibration_slope")) for x in m]],
        ["Hosmer-Lemeshow C (df)",
         *[f"{_f(x['hosmer_lemeshow']['statistic'], 2)} ({x['hosmer_lemeshow']['df']})" for x in m]],
        ["Hosmer-Lemeshow p", *[_p(x["hosmer_lemeshow"]["p"]) for x in m]],
    ]
    out += ["Models", *_grid(["metric", *names], rows), ""]

    keys = list(m[0]["net_benefit"])
    treat_all = meta.get("net_benefit_treat_all", {})
    nb_rows = [[k, *[_f(x["net_benefit"].get(k)) for x in m], _f(treat_all.get(k)), _f(0.0)]
               for k in keys]
    out += ["Net benefit", *_grid(["threshold", *names, "treat all", "treat none"], nb_rows), ""]

    comps = report.get("comparisons", [])
    if comps:
        crow = [[c["a"], c["b"], _f(c.get("auc_diff")), _ci(c["auc_diff_ci"]), _f(c["delong_z"], 2),
                 _p(c["delong_p"]), _f(c["nri"]), _p(c["nri_p"]),
                 _f(c.get("nri_categorical", {}).get("nri")),
                 _p(c.get("nri_categorical", {}).get("p")), _f(c["idi"]), _p(c["idi_p"])]
                for c in comps]
        cuts = ",".join(f"{v:g}" for v in meta.get("nri_cutoffs", []))
        head = ["a", "b", "dAUC (a-b)", f"{pct} CI", "DeLong Z", "p", "NRI cont.", "p",
                f"NRI cat.[{cuts}]", "p", "IDI", "p"]
        out += ["Comparisons (positive = a better)", *_grid(head, crow)]
    else:
        out.append("Comparisons: none (one model)")
    if any(EXCLUDES_MARK in cell for row in rows for cell in row):
        out += ["", EXCLUDES_NOTE]
    return "\n".join(out) + "\n"
