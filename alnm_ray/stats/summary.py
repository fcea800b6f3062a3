"""All evaluation statistics for several models on the same patients, as one JSON-ready dict.

:func:`evaluate_models` produces exactly the document ``alnm-ray compare
--format json`` writes and ``schemas/compare.schema.json`` describes; tune,
score and the report reuse it.  Undefined values (e.g. PPV when nobody is
predicted positive) are ``None`` (JSON ``null``), never NaN.

Rules used:

* Threshold metrics use ``p >= threshold``.  The threshold is the model's
  Youden-optimal *observed* probability on these data unless one is given
  (pass the training threshold when evaluating a test set).
* Bootstrap intervals are stratified percentile intervals; all models share
  the same replicates (same seed), so comparisons are paired.  The threshold
  is held fixed in the replicates (not re-optimised).
* Comparisons cover every pair ``(a, b)`` in the order the models were
  given (``a`` before ``b``); positive ``auc_diff``, NRI and IDI favour ``a``.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alnm_ray.progress import NullProgress
from alnm_ray.stats._bootstrap import (
    DEFAULT_N_BOOT,
    LevelCounts,
    bootstrap,
    check_n_boot,
    percentile_ci,
)
from alnm_ray.stats.checks import InvalidPredictionsError, Rows, check_level, check_models
from alnm_ray.stats.calibration import brier_score, calibration_intercept_slope, hosmer_lemeshow
from alnm_ray.stats.decision import net_benefit, treat_all_net_benefit
from alnm_ray.stats.delong import delong_ci, delong_test
from alnm_ray.stats.reclassification import _check_cutoffs, categorical_nri, continuous_nri, idi
from alnm_ray.stats.threshold import THRESHOLD_METRICS, confusion_metrics, youden_threshold

__all__ = ["COMPARE_SCHEMA_VERSION", "DEFAULT_NB_THRESHOLDS", "evaluate_models",
           "load_compare_schema", "threshold_key", "validate_compare_report"]

#: Version of the compare JSON layout (bump on incompatible changes).
COMPARE_SCHEMA_VERSION = "1"
#: Thresholds at which net benefit is reported: 0.1, 0.2, …, 0.9.
DEFAULT_NB_THRESHOLDS: tuple[float, ...] = tuple(round(0.1 * i, 1) for i in range(1, 10))
#: Metrics that get a bootstrap interval (besides the AUC).
_BOOT_METRICS: tuple[str, ...] = ("accuracy", "sensitivity", "specificity", "ppv", "npv", "f1",
                                  "brier")


def threshold_key(t: float) -> str:
    """The JSON key of a threshold: shortest decimal form, e.g. ``0.1`` -> ``"0.1"``."""
    return f"{float(t):g}"


def _clean(obj: Any) -> Any:
    """Numpy scalars -> Python, NaN/inf -> None, recursively."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_clean(v) for v in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _thresholds_for(names: Sequence[str], threshold: float | Mapping[str, float] | None,
                    ) -> dict[str, float | None]:
    if threshold is None or isinstance(threshold, (int, float)):
        return {n: threshold for n in names}
    missing = sorted(set(names) - set(threshold))
    if missing:
        raise InvalidPredictionsError(
            f"threshold: expected a threshold for every model; got none for {missing[:5]!r}. "
            "Pass one float for all models, a dict covering every model, or None for Youden."
        )
    return {n: float(threshold[n]) for n in names}


def _bootstrap_block(pos_draw: np.ndarray, neg_draw: np.ndarray, models: list[LevelCounts],
                     thresholds: list[float]) -> np.ndarray:
    """Per-replicate [auc, accuracy, sens, spec, ppv, npv, f1, brier] for every model."""
    from alnm_ray.stats.threshold import rates_from_counts

    out = []
    for lc, t in zip(models, thresholds):
        mp, mn = lc.counts(pos_draw, neg_draw)
        n1, n0 = float(lc.n1), float(lc.n0)
        tp = lc.positives_at(mp, t).astype(np.float64)
        fp = lc.positives_at(mn, t).astype(np.float64)
        rates = rates_from_counts(tp, fp, n0 - fp, n1 - tp)
        brier = (mp @ (lc.levels - 1.0) ** 2 + mn @ lc.levels ** 2) / (n1 + n0)
        out.append(np.column_stack([lc.auc(mp, mn)]
                                   + [rates[m] for m in _BOOT_METRICS[:-1]] + [brier]))
    return np.concatenate(out, axis=1)


def evaluate_models(y: Any, models: Mapping[str, Any], *,
                    threshold: float | Mapping[str, float] | None = None,
                    n_boot: int = DEFAULT_N_BOOT, seed: int | None = 0, level: float = 0.95,
                    nb_thresholds: Sequence[float] = DEFAULT_NB_THRESHOLDS, hl_groups: int = 10,
                    nri_cutoffs: Sequence[float] = (0.5,), label_name: str = "label",
                    rows: Rows = None, bar: NullProgress | None = None) -> dict[str, Any]:
    """Evaluate and compare models predicting the same patients.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        models: ``{name: predicted probabilities}``, each of shape ``(n,)``, in
            the order comparisons should be made.
        threshold: Decision threshold for the threshold metrics: ``None``
            (each model's Youden threshold on these data), one float for all
            models, or ``{name: float}``.
        n_boot: Stratified bootstrap replicates for the bootstrap intervals.
        seed: Seed of the bootstrap (recorded in ``meta``).
        level: Confidence level of every interval.
        nb_thresholds: Thresholds in [0, 1) where net benefit is reported.
        hl_groups: Hosmer-Lemeshow groups requested (ties kept together).
        nri_cutoffs: Risk cut-offs of the categorical NRI.
        label_name: Name of the outcome (for messages and ``meta``).
        rows: How to name offending rows in error messages.
        bar: Progress bar advanced by the bootstrap replicates (optional).

    Returns:
        ``{"meta": {...}, "models": {name: {...}}, "comparisons": [{...}]}``,
        JSON-serialisable (validated by ``schemas/compare.schema.json``).

    Raises:
        InvalidPredictionsError: Bad labels or predictions, thresholds or options.

    Example:
        >>> rep = evaluate_models([0, 0, 1, 1, 0, 1], {"a": [.1, .3, .7, .9, .6, .4],
        ...                        "b": [.2, .1, .3, .8, .5, .6]}, n_boot=50, hl_groups=3)
        >>> sorted(rep), rep["models"]["a"]["auc"], rep["comparisons"][0]["a"]
        (['comparisons', 'meta', 'models'], 0.8888888888888888, 'a')
    """
    yy, probs = check_models(y, models, label_name=label_name, rows=rows)
    level = check_level(level)
    n_boot = check_n_boot(n_boot)
    names = list(probs)
    if len(set(names)) != len(names):
        raise InvalidPredictionsError(f"models: expected distinct names; got {names!r}.")
    given = _thresholds_for(names, threshold)
    nb_t = np.asarray(nb_thresholds, dtype=np.float64)
    cutoffs = _check_cutoffs(nri_cutoffs)
    treat_all = treat_all_net_benefit(yy, nb_t)  # also validates the thresholds

    out_models: dict[str, Any] = {}
    used: list[float] = []
    for name in names:
        p = probs[name]
        yj = youden_threshold(yy, p)
        fixed = given[name]
        thr = yj.threshold if fixed is None else float(fixed)
        used.append(thr)
        cm = confusion_metrics(yy, p, thr)
        dl = delong_ci(yy, p, level=level)
        hl = hosmer_lemeshow(yy, p, g=hl_groups)
        rc = calibration_intercept_slope(yy, p)
        nb = net_benefit(yy, p, nb_t)
        out_models[name] = {
            "n": int(yy.size), "n_events": int(yy.sum()), "n_nonevents": int(yy.size - yy.sum()),
            "auc": dl.auc, "auc_se": dl.se, "auc_ci_delong": [dl.low, dl.high],
            "threshold": thr, "threshold_source": "youden" if fixed is None else "given",
            "youden_threshold": yj.threshold, "youden_j": yj.j,
            **{k: v for k, v in cm.as_dict().items() if k != "threshold"},
            "brier": brier_score(yy, p),
            "calibration_intercept": rc.intercept, "calibration_slope": rc.slope,
            "hosmer_lemeshow": {"statistic": hl.statistic, "df": hl.df, "p": hl.p,
                                "groups": hl.groups},
            "net_benefit": {threshold_key(t): v for t, v in zip(nb_t, nb)},
        }

    counted = [LevelCounts(yy, probs[n]) for n in names]
    reps = bootstrap(yy, lambda pd_, nd_: _bootstrap_block(pd_, nd_, counted, used),
                     n_boot=n_boot, seed=seed, bar=bar)
    k = 1 + len(_BOOT_METRICS)
    for i, name in enumerate(names):
        ci = percentile_ci(reps[:, i * k:(i + 1) * k], level)
        out_models[name]["auc_ci_bootstrap"] = [ci[0, 0], ci[1, 0]]
        out_models[name]["ci_bootstrap"] = {m: [ci[0, j + 1], ci[1, j + 1]]
                                            for j, m in enumerate(_BOOT_METRICS)}

    comparisons = []
    for (i, a), (j, b) in itertools.combinations(enumerate(names), 2):
        dt = delong_test(yy, probs[a], probs[b], level=level)
        diff_ci = percentile_ci(reps[:, i * k] - reps[:, j * k], level)
        cn = continuous_nri(yy, probs[a], probs[b])
        kn = categorical_nri(yy, probs[a], probs[b], cutoffs)
        di = idi(yy, probs[a], probs[b])
        comparisons.append({
            "a": a, "b": b, "auc_a": dt.auc_a, "auc_b": dt.auc_b, "auc_diff": dt.diff,
            "delong_se": dt.se, "delong_z": dt.z, "delong_p": dt.p,
            "auc_diff_ci": [dt.low, dt.high], "auc_diff_ci_bootstrap": list(diff_ci),
            "nri": cn.nri, "nri_se": cn.se, "nri_z": cn.z, "nri_p": cn.p,
            "nri_events": cn.events, "nri_nonevents": cn.nonevents,
            "nri_categorical": {"cutoffs": list(kn.cutoffs), "nri": kn.nri, "se": kn.se,
                                "z": kn.z, "p": kn.p, "events": kn.events,
                                "nonevents": kn.nonevents},
            "idi": di.idi, "idi_se": di.se, "idi_z": di.z, "idi_p": di.p,
            "idi_events": di.events, "idi_nonevents": di.nonevents,
        })

    from alnm_ray._version import __version__

    meta = {
        "schema_version": COMPARE_SCHEMA_VERSION, "alnm_ray_version": __version__,
        "label": label_name, "n": int(yy.size), "n_events": int(yy.sum()),
        "n_nonevents": int(yy.size - yy.sum()), "prevalence": float(yy.mean()),
        "level": level, "n_boot": n_boot, "seed": seed, "hl_groups": int(hl_groups),
        "nri_cutoffs": list(cutoffs),
        "threshold_rule": "predicted positive when p >= threshold; default threshold = "
                          "Youden-optimal observed probability",
        "net_benefit_thresholds": nb_t,
        "net_benefit_treat_all": {threshold_key(t): v
                                  for t, v in zip(nb_t, treat_all)},
    }
    return _clean({"meta": meta, "models": out_models, "comparisons": comparisons})


def load_compare_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of :func:`evaluate_models` output."""
    from importlib import resources

    text = resources.files("alnm_ray").joinpath("schemas", "compare.schema.json").read_text(encoding="utf-8")
    return json.loads(text)


def validate_compare_report(report: Mapping[str, Any]) -> None:
    """Check a compare document against ``schemas/compare.schema.json``.

    Raises:
        InvalidPredictionsError: The document does not match; the message
            names the failing path.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(load_compare_schema())
    errors = sorted(validator.iter_errors(report), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/".join(str(p) for p in first.absolute_path) or "<root>"
        raise InvalidPredictionsError(
            f"compare report: {len(errors)} schema violation(s); first at {where}: "
            f"{first.message}. This is a bug in the producer of the report."
        )
