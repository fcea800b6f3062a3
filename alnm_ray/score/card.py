"""The model card every bundle carries (``MODEL_CARD.md``, skops' ``card`` format).

:func:`bundle_extras` is what ``alnm-ray train`` adds to a bundle besides the
model: the SHAP background (sampled training rows, see
:mod:`alnm_ray.score.explain`) and the card.  The card states the intended
use, the training cohort (centres, n, prevalence), the protocol and its
assumptions, metrics per validation set with 95 % intervals (the apparent
training performance, and every labelled patient of the store's tables that
was not trained on, grouped by cohort and split), calibration, the TRIPOD
(2015) items the bundle can fill, and known limitations.  It is written into
the bundle before signing, so it is checksummed and signed like every file;
``alnm-ray bundle show BUNDLE`` prints it after verifying the bundle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd


logger = logging.getLogger(__name__)

#: Bootstrap replicates of the card's AUC intervals (seeded with the training seed).
CARD_N_BOOT = 1000


def _fmt(x: Any, digits: int = 3) -> str:
    try:
        return "—" if x is None or not np.isfinite(float(x)) else f"{float(x):.{digits}f}"
    except (TypeError, ValueError):
        return str(x)


def set_metrics(y: Any, p: Any, threshold: float, *, seed: int = 0, n_boot: int = CARD_N_BOOT) -> dict[str, Any]:
    """n, prevalence, AUC with its bootstrap 95 % CI, sensitivity, specificity, Brier and calibration.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p: Predicted P(ALNM), shape ``(n,)``.
        threshold: Decision threshold (``p >= threshold`` is positive).
        seed: Bootstrap seed.
        n_boot: Bootstrap replicates.

    Returns:
        A flat dict (AUC fields NaN when a class is missing).
    """
    import warnings

    from alnm_ray.stats.auc import bootstrap_auc_ci
    from alnm_ray.stats.calibration import brier_score, calibration_intercept_slope

    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    pos, neg = y == 1, y == 0
    pred = p >= threshold
    out: dict[str, Any] = {"n": int(len(y)), "n_positive": int(pos.sum()),
                           "prevalence": float(pos.mean()) if len(y) else float("nan"),
                           "sensitivity": float(pred[pos].mean()) if pos.any() else float("nan"),
                           "specificity": float((~pred[neg]).mean()) if neg.any() else float("nan"),
                           "auc": float("nan"), "auc_low": float("nan"), "auc_high": float("nan"),
                           "brier": float("nan"), "cal_intercept": float("nan"), "cal_slope": float("nan")}
    if pos.any() and neg.any():
        ci = bootstrap_auc_ci(y, p, n_boot=n_boot, seed=seed)
        out.update(auc=ci.estimate, auc_low=ci.low, auc_high=ci.high, brier=brier_score(y, p))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # separated classes: NaN, said in the card
            cal = calibration_intercept_slope(y, p)
        out.update(cal_intercept=cal.intercept, cal_slope=cal.slope)
    return out


def validation_sets(model: Any, cohort: Any, feature_set: str, train_ids: Sequence[str], columns: Sequence[str]
                    ) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Labelled patients of the tables that were not trained on, by ``cohort (split)``: ``{name: (y, p)}``."""
    from alnm_ray.model.feature_sets import assemble_feature_set

    if cohort.labels is None:
        return {}
    labels = cohort.labels.dropna()
    held = labels.index.difference(pd.Index([str(i) for i in train_ids]))
    if len(held) == 0:
        return {}
    names = pd.Series("all", index=held) if cohort.cohort_names is None else \
        cohort.cohort_names.reindex(held).astype("string").fillna("all")
    if cohort.splits is not None:
        names = names + " (" + cohort.splits.reindex(held).astype("string").fillna("no split") + ")"
    out = {}
    for name, ids in names.groupby(names, sort=True):
        try:
            X = assemble_feature_set(feature_set, {t: w.loc[w.index.intersection(ids.index)]
                                                   for t, w in cohort.tables.items()}, join="inner")
            X = X.reindex(columns=list(columns))
            batch = getattr(model, "batch_column", None)
            if batch and cohort.centers is not None:  # ComBat reads each patient's centre
                X = X.assign(**{batch: cohort.centers.reindex(X.index).to_numpy()})
            out[str(name)] = (labels.loc[X.index].to_numpy(int), np.asarray(model.predict_proba(X))[:, 1])
        except Exception as err:  # a set the bundle cannot score is named in the card, not fatal to training
            logger.warning("model card: validation set %s not evaluated: %s", name, err)
    return out


def metrics_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown table of :func:`set_metrics` results, one row per set."""
    head = ("| set | n | ALNM+ (prevalence) | AUC (95 % CI) | sensitivity | specificity | Brier | "
            "calibration intercept | calibration slope |\n|---|---|---|---|---|---|---|---|---|")
    lines = [head]
    for name, m in rows.items():
        lines.append(f"| {name} | {m['n']} | {m['n_positive']} ({_fmt(m['prevalence'])}) | {_fmt(m['auc'])} "
                     f"({_fmt(m['auc_low'])}–{_fmt(m['auc_high'])}) | {_fmt(m['sensitivity'])} | "
                     f"{_fmt(m['specificity'])} | {_fmt(m['brier'])} | {_fmt(m['cal_intercept'])} | "
                     f"{_fmt(m['cal_slope'])} |")
    return "\n".join(lines)


def render_card(metadata: Mapping[str, Any], metrics: Mapping[str, Mapping[str, Any]], *,
                background_rows: int) -> str:
    """The model card's Markdown (skops ``Card`` with the sections named in the module docstring)."""
    from skops.card import Card

    t = metadata.get("training", {})
    sel = metadata.get("selection", {}) or {}
    n, npos = int(t.get("n_patients", 0)), int(t.get("n_positive", 0))
    centres = ", ".join(t.get("centers") or []) or "not recorded"
    cohorts = ", ".join(t.get("cohorts") or []) or "not recorded"
    inputs = metadata.get("classifier_inputs") or metadata.get("selected_features") or []
    privacy = (f"This bundle stores {background_rows} training patients' rows (the selected features after "
               "the selection pipeline's transforms, without patient ids) as `explain_background.parquet`, "
               "the background SHAP explanations are relative to. Anyone holding the bundle can read them: "
               "share it only where the training data may go, or re-train with `--explain-background 0`."
               if background_rows else
               "This bundle stores no training rows (`--explain-background 0`): `alnm-ray explain` is "
               "unavailable for it.")
    tripod = [
        ("4a", "Source of data", f"feature store `{t.get('store', '?')}`, tables {metadata.get('feature_tables')}"),
        ("5a", "Participants: setting, centres", f"centres {centres}; cohorts {cohorts}"),
        ("6a", "Outcome", "axillary lymph node metastasis (label 1), as recorded in the manifests"),
        ("7a", "Predictors", f"{len(metadata.get('features', []))} input features "
                             f"({metadata.get('feature_set')}), reader {metadata.get('reader', 'A')}"),
        ("8", "Sample size", f"{n} training patients, {npos} events"),
        ("9", "Missing data", f"imputed by the pipeline: {len(metadata.get('imputed_features') or [])} "
                              f"feature(s); features empty for every training patient excluded: "
                              f"{len(metadata.get('excluded_features') or [])}"),
        ("10b", "Model type, predictor selection", f"{metadata.get('classifier')} on the output of selection "
                                                   f"`{sel.get('name', '?')}` ({len(inputs)} classifier inputs)"),
        ("10d", "Performance measures", "AUC (stratified bootstrap 95 % CI), sensitivity, specificity, Brier, "
                                        "calibration intercept and slope"),
        ("14a", "Participants and events", f"{n} / {npos}"),
        ("15a", "Full model", "the fitted pipeline (model.skops) and threshold "
                              f"{_fmt(metadata.get('threshold'))} ({metadata.get('threshold_method')})"),
        ("16", "Model performance", "see Evaluation results"),
    ]
    card = Card(model=None, template=None)
    card.add(**{
        "Model description": (f"Predicts axillary lymph node metastasis (ALNM) from {metadata.get('feature_set')} "
                              f"features with a {metadata.get('classifier')} classifier, written by "
                              "`alnm-ray train`."),
        "Model description/Intended use": (
            "Research use: estimating the probability of ALNM for breast cancer patients imaged like the "
            "training cohort, to be studied against the axillary surgery or biopsy result. Not a medical "
            "device; not for clinical decisions on an individual patient. Patients are predicted positive "
            f"at P(ALNM) >= {_fmt(metadata.get('threshold'))}."),
        "Training cohort": (f"{n} patients, {npos} with ALNM (prevalence {_fmt(npos / n if n else float('nan'))}); "
                            f"centres: {centres}; cohorts: {cohorts}; split: {t.get('split')}; "
                            f"apparent training AUC {_fmt(t.get('apparent_auc'))}."),
        "Protocol and assumptions": (
            f"Feature set `{metadata.get('feature_set')}` from tables {metadata.get('feature_tables')}; selection "
            f"`{sel.get('name', '?')}` fitted on the training patients only; classifier "
            f"`{metadata.get('classifier')}` with parameters {metadata.get('classifier_params') or 'default'}; "
            f"seeds {metadata.get('seeds')}. Assumes new patients' features are computed with the bundle's own "
            "preprocessing, PyRadiomics parameters and embedding config (config/), by the same reader "
            "protocol, on images like the training ones (`score` checks drift against the training summary)."),
        "Evaluation results": metrics_table(metrics) + (
            "\n\nThe training row is apparent (optimistic) performance. Other rows are labelled patients of the "
            "training tables that were not trained on. Intervals: stratified bootstrap, "
            f"{CARD_N_BOOT} replicates."),
        "Evaluation results/Calibration": (
            "Calibration intercept (calibration-in-the-large; 0 is ideal) and slope (1 is ideal) per set are in "
            "the table above; `alnm-ray score` reports calibration on each new labelled cohort."),
        "TRIPOD items": "| item | topic | this bundle |\n|---|---|---|\n" + "\n".join(
            f"| {a} | {b} | {c} |" for a, b, c in tripod),
        "Explanations and privacy": privacy,
        "Known limitations": (
            "- Performance on the training patients is optimistic; trust the held-out and external rows.\n"
            "- The decision threshold was chosen on training data; it may not transfer to another prevalence.\n"
            "- Centres, scanners, sequences or readers not in the training cohort may shift the features "
            "(see the drift report of `alnm-ray score`).\n"
            "- Small cohorts give wide intervals; a single cohort's results may not generalise."),
        "Versions": ", ".join(f"{k} {v}" for k, v in sorted((metadata.get("library_versions") or {}).items()) if v)
        or "recorded in metadata.json",
    })
    return str(card.render())


def bundle_extras(*, model: Any, X: pd.DataFrame, y: np.ndarray, p_train: np.ndarray, threshold: float,
                  metadata: Mapping[str, Any], cohort: Any = None, seed: int = 0,
                  background_rows: int = 100) -> dict[str, Any]:
    """What ``train`` adds to a bundle: ``{"background": frame or None, "model_card": markdown}``.

    Args:
        model: The fitted :class:`~alnm_ray.score.frozen.FrozenModel`.
        X: Training rows (input columns).
        y: Training labels.
        p_train: Training predictions (apparent).
        threshold: The decision threshold.
        metadata: The bundle metadata being written.
        cohort: The :class:`~alnm_ray.model.cohort.Cohort` read for training (for held-out sets).
        seed: Seed of the background draw and the bootstrap.
        background_rows: Training rows stored for SHAP (0: none).
    """
    from alnm_ray.score.bundle import library_versions
    from alnm_ray.score.explain import sample_background

    background = sample_background(model, X, background_rows, seed=seed)
    metrics = {"training (apparent)": set_metrics(y, p_train, threshold, seed=seed)}
    if cohort is not None:
        for name, (yy, pp) in validation_sets(model, cohort, str(metadata.get("feature_set")),
                                              list(X.index.astype(str)), list(X.columns)).items():
            metrics[name] = set_metrics(yy, pp, threshold, seed=seed)
    meta = {**dict(metadata), "library_versions": library_versions()}
    card = render_card(meta, metrics, background_rows=0 if background is None else len(background))
    return {"background": background, "model_card": card}


__all__ = ["bundle_extras", "render_card", "set_metrics", "validation_sets"]
