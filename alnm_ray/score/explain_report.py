"""``alnm-ray explain``: SHAP contributions of a bundle for stored features or new images, and a report.

The bundle is read and verified exactly as ``score`` does
(:func:`~alnm_ray.score.bundle.read_bundle_files` checks the signature before
any other file is read, :func:`~alnm_ray.score.bundle.load_bundle_files` every
checksum before anything is parsed), and the patients' rows are assembled by
the scoring code, so the rows explained are the rows ``score`` would score.

Outputs in ``out_dir``: ``contributions.parquet`` (one row per patient: ids,
probability, explainer, output scale, base value, output, one column per
classifier input) and ``explain.html`` (self-contained: global importance bar
and beeswarm, a waterfall per chosen patient, and, when the rows are
labelled with both classes, permutation importance on them as a
model-agnostic check).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.score.explain import DEFAULT_MAX_EVALS, Explanation, contributions_frame, explain_rows

logger = logging.getLogger(__name__)

CONTRIBUTIONS_FILE = "contributions.parquet"
REPORT_FILE = "explain.html"
#: Patients given a waterfall plot when none are chosen.
DEFAULT_WATERFALLS = 3


@dataclass(frozen=True)
class ExplainResult:
    """What ``explain`` wrote."""

    bundle_id: str
    contributions: pd.DataFrame
    explainer: str
    scale: str
    patients: int
    files: list[str]
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)


def _rows(bundle: Any, sources: Sequence[Any], cohorts: Sequence[str]) -> pd.DataFrame:
    from alnm_ray.score.job import DEFAULT_COHORT, _assemble_cohort

    frames = []
    for source in sources:
        names = source.tables.cohorts() if source.expected is None else sorted(
            source.expected[C.COL_COHORT].astype(str).unique())
        names = [c for c in (names or [DEFAULT_COHORT]) if not cohorts or c in cohorts]
        for cohort in names:
            rows, errors, _ = _assemble_cohort(bundle, source, cohort, align=False)
            for err in errors:
                logger.warning("not explained: %s/%s: %s", err[C.COL_COHORT], err[C.COL_PATIENT], err["message"])
            frames.append(rows)
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    if rows.empty:
        raise ConfigError("explain: expected patients to explain; found none in the inputs"
                          + (f" for cohorts {', '.join(cohorts)}" if cohorts else "")
                          + ". Check --features/--manifest and --cohort.")
    return rows


def explain_sources(bundle: Any, sources: Sequence[Any], out_dir: str, *, patients: Sequence[str] = (),
                    cohorts: Sequence[str] = (), max_evals: int = DEFAULT_MAX_EVALS, seed: int = 0,
                    n_repeats: int = 10) -> ExplainResult:
    """Explain every patient of ``sources``; write the Parquet file and the HTML report.

    Args:
        bundle: The loaded, verified bundle.
        sources: Inputs (as built for ``score``).
        out_dir: Output folder (created).
        patients: Patient ids given a waterfall plot (default: the first few).
        cohorts: Explain only these cohorts.
        max_evals: Model evaluations per patient of the permutation explainer.
        seed: Seed of the permutation explainer and of permutation importance.
        n_repeats: Shuffles per feature of permutation importance.

    Raises:
        ConfigError: No patients, a chosen patient is not among them, or the bundle has no background.
    """
    from alnm_ray.score.explain import permutation_importance_table

    start = time.monotonic()
    rows = _rows(bundle, sources, cohorts)
    unknown = sorted(set(map(str, patients)) - set(rows[C.COL_PATIENT].astype(str)))
    if unknown:
        raise ConfigError(f"--patient: expected patients of the explained rows; {', '.join(unknown[:5])} "
                          f"not found among {len(rows)}. Check the ids (e.g. with `alnm-ray sql`).")
    X = rows.loc[:, bundle.features]
    expl = explain_rows(bundle, X, max_evals=max_evals, seed=seed)
    t_explain = time.monotonic() - start
    ids = rows[[C.COL_COHORT, C.COL_CENTER, C.COL_PATIENT]].copy()
    ids[C.COL_LABEL] = pd.to_numeric(rows["_label"], errors="coerce").astype("Float64")
    frame = contributions_frame(expl, ids)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out / CONTRIBUTIONS_FILE, index=False)
    perm = permutation_importance_table(bundle, X, pd.to_numeric(rows["_label"], errors="coerce").to_numpy(),
                                        n_repeats=n_repeats, seed=seed)
    chosen = list(map(str, patients)) or list(rows[C.COL_PATIENT].astype(str).head(DEFAULT_WATERFALLS))
    report = write_report(out / REPORT_FILE, bundle=bundle, expl=expl, ids=ids, chosen=chosen, perm=perm)
    seconds = time.monotonic() - start
    return ExplainResult(bundle.bundle_id, frame, expl.explainer, expl.scale, len(frame),
                         [str(out / CONTRIBUTIONS_FILE), str(report)], seconds,
                         {"explain_s": t_explain, "report_s": seconds - t_explain})


def write_report(path: Path, *, bundle: Any, expl: Explanation, ids: pd.DataFrame, chosen: Sequence[str],
                 perm: pd.DataFrame | None) -> Path:
    """The self-contained HTML report (figures embedded as PNG)."""
    from alnm_ray.plots.shap import beeswarm, importance_bar, waterfall
    from alnm_ray.report._html import esc, figure, page, table

    meta = bundle.metadata
    what = (f"Contributions of the {meta.get('classifier')} classifier's inputs (the selected features, after the "
            f"selection pipeline's transforms) to the {expl.scale} of ALNM, relative to {expl.background_rows} "
            f"sampled training rows (SHAP {expl.explainer} explainer). For every patient, base value + sum of "
            "contributions = output.")
    glob = (f'<p class="note">{esc(what)}</p><div class="figs">'
            + figure(importance_bar(expl.values, scale=expl.scale), "Global importance: mean |SHAP value|")
            + figure(beeswarm(expl.values, expl.data, scale=expl.scale), "Beeswarm: one dot per patient")
            + "</div>" + table(expl.mean_abs().rename("mean |SHAP|").reset_index().rename(
                columns={"index": "feature"}).head(20)))
    pid = ids[C.COL_PATIENT].astype(str).to_numpy()
    figs = []
    for patient in chosen:
        pos = int(np.flatnonzero(pid == str(patient))[0])
        title = f"{ids[C.COL_COHORT].iloc[pos]}/{patient}: P(ALNM) = {expl.probability[pos]:.3f}"
        fig = waterfall(expl.values.iloc[pos], base_value=float(expl.base_value[pos]), output=float(expl.output[pos]),
                        scale=expl.scale, title=title, data=expl.data.iloc[pos])
        figs.append(figure(fig, f"Waterfall: {title}"))
    sections = [("global", "Global importance", glob),
                ("patients", "Per-patient explanations", '<div class="figs">' + "".join(figs) + "</div>")]
    if perm is not None:
        sections.append(("permutation", "Permutation importance (model-agnostic check)",
                         '<p class="note">Mean drop in AUC of the whole bundle (selection + classifier) on these '
                         "labelled patients when one input feature is shuffled (10 shuffles; SD).</p>"
                         + table(perm)))
    else:
        sections.append(("permutation", "Permutation importance (model-agnostic check)",
                         '<p class="note">Not computed: the explained patients are not labelled with both '
                         "classes.</p>"))
    html = page(f"Explanations — bundle {bundle.bundle_id}",
                f"{meta.get('feature_set')}/{meta.get('classifier')}; {len(expl.values)} patient(s)", sections)
    path.write_text(html, encoding="utf-8")
    return path


def explain_features(bundle_path: str, store: Any, refs: Sequence[str], out_dir: str, *, trust: Any = None,
                     **options: Any) -> ExplainResult:
    """Explain stored features (``TABLE[@VERSION]`` references) with a bundle verified as ``score`` verifies it."""
    from alnm_ray.score.bundle import load_bundle_files, read_bundle_files
    from alnm_ray.score.sources import feature_sources
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    bundle = load_bundle_files(read_bundle_files(bundle_path, trust=trust))
    return explain_sources(bundle, feature_sources(store, bundle, refs), out_dir, **options)


def explain_manifests(bundle_path: str, store: Any, manifests: Sequence[str], out_dir: str, *,
                      trust: Any = None, weights: str | None = None, quiet: bool = True, debug: bool = False,
                      **options: Any) -> ExplainResult:
    """Explain new images: the bundle's own extraction first (as ``score --manifest``), then SHAP."""
    from alnm_ray.score.bundle import load_bundle_files, read_bundle_files
    from alnm_ray.score.sources import manifest_sources
    from alnm_ray.store import FeatureStore

    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    bundle = load_bundle_files(read_bundle_files(bundle_path, trust=trust))
    sources, _ = manifest_sources(bundle, store, manifests, weights=weights, quiet=quiet, debug=debug)
    return explain_sources(bundle, sources, out_dir, **options)
