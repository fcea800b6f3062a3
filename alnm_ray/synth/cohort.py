"""Generating a whole cohort: plan, patients (serial or Ray tasks), tables, summary.

Outputs in ``out_dir``:

* ``images/<patient>/<sequence>.nii.gz`` and ``masks/<patient>/<sequence>_<reader>.nii.gz``;
* ``manifest.csv``: one row per (patient, sequence, reader), paths relative to the folder;
* ``clinical.csv``: one row per patient (no label: the label lives in the manifest);
* ``truth.csv``: the generator's hidden truth per patient (latent risk, traits) for
  checking models against the oracle; never a model input;
* ``cohort.json``: settings, counts, prevalence, oracle AUC, centres, versions
  (written last: its presence marks a complete cohort).

Every file is a deterministic function of the config: same seed, same bytes,
serial or parallel.
"""

from __future__ import annotations

import json
import logging
import platform
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray._version import __version__
from alnm_ray.constants import (
    COL_CENTER, COL_COHORT, COL_IMAGE, COL_LABEL, COL_MASK, COL_MASK_LABEL, COL_PATIENT, COL_READER,
    COL_SEQUENCE, COL_SPLIT, DEFAULT_MASK_LABEL, READERS,
)
from alnm_ray.csvsafe import neutralize_frame
from alnm_ray.exceptions import ConfigError
from alnm_ray.progress import progress
from alnm_ray.synth.centers import CenterProfile, make_centers
from alnm_ray.synth.config import SynthConfig
from alnm_ray.synth.design import plan_cohort
from alnm_ray.synth.latent import (
    LATENT_SCALE, TRAIT_WEIGHTS, TRAITS, empirical_auc, expected_oracle_auc, latent_intercept,
)
from alnm_ray.synth.patient import PatientPlan, generate_patients
from alnm_ray.synth.ultrasound import make_us_scanners
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

MANIFEST_COLUMNS: tuple[str, ...] = (COL_COHORT, COL_CENTER, COL_PATIENT, COL_SEQUENCE, COL_READER,
                                     COL_IMAGE, COL_MASK, COL_MASK_LABEL, COL_LABEL, COL_SPLIT)
#: Everything the generator writes (and ``overwrite`` may delete).
OUTPUTS: tuple[str, ...] = ("images", "masks", "manifest.csv", "clinical.csv", "truth.csv", "cohort.json")
#: Patients per Ray task is ``ceil(patients / (TASKS_PER_CPU * CPUs))``: a few tasks per CPU
#: balance uneven lesion sizes without paying Ray's per-task overhead per patient.
TASKS_PER_CPU = 3
#: Bump when the files' content or layout changes for the same config.
FORMAT_VERSION = 1


@dataclass(frozen=True)
class CohortInfo:
    """What :func:`generate_cohort` wrote.

    Args:
        out_dir: The cohort folder.
        manifest: Path of ``manifest.csv``.
        clinical: Path of ``clinical.csv``.
        summary: Path of ``cohort.json``.
        n_patients: Patients generated.
        n_positive: ALNM-positive patients.
        n_rows: Manifest rows.
        prevalence: Observed ALNM prevalence.
        oracle_auc: AUC of the latent risk in this cohort (``None`` with one class only).
        oracle_auc_expected: Population AUC of the latent risk for this signal.
        mode: ``"serial"`` or ``"ray"``.
        elapsed_s: Wall time of the generation (s).
    """

    out_dir: Path
    manifest: Path
    clinical: Path
    summary: Path
    n_patients: int
    n_positive: int
    n_rows: int
    prevalence: float
    oracle_auc: float | None
    oracle_auc_expected: float
    mode: str
    elapsed_s: float


def _prepare(out_dir: Path, overwrite: bool) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise ConfigError(f"OUT {str(out_dir)!r}: expected a folder; found a file. Choose a folder path.")
    entries = sorted(p.name for p in out_dir.iterdir()) if out_dir.exists() else []
    if entries:
        shown = ", ".join(entries[:5]) + (" …" if len(entries) > 5 else "")
        if not overwrite:
            raise ConfigError(
                f"OUT {str(out_dir)!r}: expected a new or empty folder; found {len(entries)} entries "
                f"({shown}). Pass --overwrite (overwrite=True) to replace a synthetic cohort written "
                "there before, or choose another folder.")
        foreign = sorted(set(entries) - set(OUTPUTS))
        if not (out_dir / "cohort.json").is_file() and foreign:
            # Without cohort.json, only the leftovers of an interrupted run may be replaced.
            raise ConfigError(
                f"OUT {str(out_dir)!r}: --overwrite only replaces a synthetic cohort (a folder with "
                f"cohort.json, or only {', '.join(OUTPUTS[:2])} from an interrupted run); found "
                f"{', '.join(foreign[:5])} without cohort.json. Choose an empty folder.")
        for name in OUTPUTS:
            path = out_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


def _chunks(plans: list[PatientPlan], n_chunks: int) -> list[list[PatientPlan]]:
    size = -(-len(plans) // max(n_chunks, 1))
    return [plans[i:i + size] for i in range(0, len(plans), size)]


def _run_serial(out_dir: Path, config: SynthConfig, plans: list[PatientPlan],
                centers: list[CenterProfile], quiet: bool) -> list[dict[str, Any]]:
    records = []
    with progress(len(plans), "synth patients", quiet=quiet) as bar:
        for plan in plans:
            records.extend(generate_patients(str(out_dir), config, [plan], centers))
            bar.update(1)
    return records


def _run_ray(out_dir: Path, config: SynthConfig, plans: list[PatientPlan],
             centers: list[CenterProfile], quiet: bool) -> list[dict[str, Any]]:
    import ray

    from alnm_ray.runtime import cluster_cpus, ensure_ray

    ensure_ray()
    task = ray.remote(num_cpus=1, max_retries=0)(generate_patients)
    config_ref, centers_ref = ray.put(config), ray.put(centers)
    chunks = _chunks(plans, int(max(cluster_cpus(), 1)) * TASKS_PER_CPU)
    pending = {task.remote(str(out_dir), config_ref, chunk, centers_ref): len(chunk) for chunk in chunks}
    logger.info("generating %d patients in %d Ray tasks", len(plans), len(pending))
    records: list[dict[str, Any]] = []
    with progress(len(plans), "synth patients", quiet=quiet) as bar:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1)
            records.extend(ray.get(done[0]))
            bar.update(pending.pop(done[0]))
    return records


def _resolve_mode(parallel: str | None) -> str:
    if parallel is None:
        ray = sys.modules.get("ray")
        return "ray" if ray is not None and ray.is_initialized() else "serial"
    if parallel not in ("serial", "ray"):
        raise ConfigError(f"parallel: expected None, 'serial' or 'ray'; got {parallel!r}. "
                          "Use 'ray' to spread patients over Ray tasks.")
    return parallel


def generate_cohort(out_dir: PathLike, config: SynthConfig, *, parallel: str | None = None,
                    quiet: bool = False, overwrite: bool = False) -> CohortInfo:
    """Generate a synthetic multicentre cohort into ``out_dir``.

    Args:
        out_dir: Folder to write (created; must be new or empty unless ``overwrite``).
        config: What to generate.
        parallel: ``None`` uses Ray when it is already initialised, else a
            serial loop; ``"ray"`` starts an embedded Ray if needed; ``"serial"``.
            The files are identical either way.
        quiet: Hide the progress bar.
        overwrite: Replace a synthetic cohort (a folder with ``cohort.json``)
            previously written to ``out_dir``.

    Returns:
        Paths and headline figures of the cohort.

    Raises:
        ConfigError: When ``out_dir`` is not usable or ``parallel`` is unknown.

    Example:
        >>> info = generate_cohort("cohort", SynthConfig(patients=4, centers=2))  # doctest: +SKIP
        >>> info.manifest.name  # doctest: +SKIP
        'manifest.csv'
    """
    start = time.perf_counter()
    out = Path(out_dir).expanduser().resolve()
    mode = _resolve_mode(parallel)
    _prepare(out, overwrite)
    centers = make_centers(config)
    plans = plan_cohort(config)
    run = _run_ray if mode == "ray" else _run_serial
    records = sorted(run(out, config, plans, centers, quiet), key=lambda r: r["index"])
    labels = np.array([r["label"] for r in records])
    split = np.array([r["split"] for r in records], dtype=object)
    manifest = _manifest(config, records, split)
    _write_csv(manifest, out / "manifest.csv")
    _write_csv(_clinical(config, records), out / "clinical.csv")
    _write_csv(_truth(records, split), out / "truth.csv")
    latents = np.array([r["latent"] for r in records])
    auc = empirical_auc(latents, labels)
    summary = _summary(config, records, split, centers, auc)
    (out / "cohort.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    elapsed = time.perf_counter() - start
    info = CohortInfo(out_dir=out, manifest=out / "manifest.csv", clinical=out / "clinical.csv",
                      summary=out / "cohort.json", n_patients=len(records), n_positive=int(labels.sum()),
                      n_rows=len(manifest), prevalence=float(labels.mean()), oracle_auc=auc,
                      oracle_auc_expected=summary["oracle_auc_expected"], mode=mode, elapsed_s=elapsed)
    logger.info("synthetic cohort: %d patients (%d ALNM+), %d manifest rows, oracle AUC %s, %.1f s (%s)",
                info.n_patients, info.n_positive, info.n_rows,
                "n/a" if auc is None else f"{auc:.3f}", elapsed, mode)
    return info


def _write_csv(df: pd.DataFrame, path: Path) -> None:
    neutralize_frame(df).to_csv(path, index=False, lineterminator="\n")


def _manifest(config: SynthConfig, records: list[dict[str, Any]], split: np.ndarray) -> pd.DataFrame:
    order = {seq: k for k, seq in enumerate(config.shape.sequences)}
    rank = {r: k for k, r in enumerate(READERS)}
    rows = []
    for rec, sp in zip(records, split):
        for seq, reader, image, mask in sorted(rec["rows"], key=lambda t: (order[t[0]], rank[t[1]])):
            rows.append((rec["cohort"], rec["center"], rec["patient_id"], seq, reader, image, mask,
                         DEFAULT_MASK_LABEL, rec["label"], sp))
    return pd.DataFrame(rows, columns=list(MANIFEST_COLUMNS))


def _clinical(config: SynthConfig, records: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [{COL_PATIENT: r["patient_id"], COL_COHORT: r["cohort"], COL_CENTER: r["center"],
             **r["clinical"]} for r in records]
    df = pd.DataFrame(rows, columns=[COL_PATIENT, COL_COHORT, COL_CENTER, *config.shape.clinical_columns])
    for column in config.shape.clinical_columns:  # calls exist for some patients only: integers, not floats
        values = [r["clinical"][column] for r in records if r["clinical"][column] is not None]
        if len(values) < len(records) and all(isinstance(v, int) for v in values):
            df[column] = df[column].astype("Int64")
    return df


def _truth(records: list[dict[str, Any]], split: np.ndarray) -> pd.DataFrame:
    rows = [{COL_PATIENT: r["patient_id"], COL_CENTER: r["center"], COL_LABEL: r["label"], COL_SPLIT: sp,
             "repeat_readers": int(r["repeat"]), "latent": r["latent"], "risk_score": r["risk_score"],
             **r["truth_extra"], **{f"trait_{k}": v for k, v in r["phenotype"].items()}, **r["lesion"]}
            for r, sp in zip(records, split)]
    return pd.DataFrame(rows)


def _summary(config: SynthConfig, records: list[dict[str, Any]], split: np.ndarray,
             centers: list[CenterProfile], auc: float | None) -> dict[str, Any]:
    import SimpleITK as sitk
    import scipy

    labels = np.array([r["label"] for r in records])
    per_center = {}
    for c in centers:
        lab = np.array([r["label"] for r in records if r["center"] == c.name])
        per_center[c.name] = {"patients": int(len(lab)), "alnm_positive": int(lab.sum()),
                              "alnm_negative": int(len(lab) - lab.sum())}
    shape = config.shape
    per_split = {s: {"patients": int((split == s).sum()), "alnm_positive": int(labels[split == s].sum())}
                 for s in shape.splits}
    cohorts = np.array([r["cohort"] for r in records])
    per_cohort = {c: {"patients": int((cohorts == c).sum()), "alnm_positive": int(labels[cohorts == c].sum())}
                  for c in dict.fromkeys(cohorts.tolist())}
    weights = np.asarray(TRAIT_WEIGHTS) / np.linalg.norm(TRAIT_WEIGHTS)
    return {
        "format": "alnm-ray synthetic cohort",
        "format_version": FORMAT_VERSION,
        "cohort": config.cohort,
        "seed": config.seed,
        "config": config.to_dict(),
        "config_hash": config.config_hash(),
        "n_patients": len(records),
        "n_centers": len(centers),
        "sequences": list(shape.sequences),
        "design": shape.describe(),
        "counts": {"per_center": per_center, "per_split": per_split, "per_cohort": per_cohort,
                   "per_label": {"0": int((labels == 0).sum()), "1": int(labels.sum())}},
        "prevalence": round(float(labels.mean()), 6),
        "prevalence_expected": config.prevalence,
        "oracle_auc": None if auc is None else round(auc, 6),
        "oracle_auc_expected": round(expected_oracle_auc(config.signal, config.prevalence), 6),
        "latent": {"traits": list(TRAITS), "weights": [round(float(w), 6) for w in weights],
                   "scale": round(config.signal * LATENT_SCALE, 6),
                   "intercept": round(latent_intercept(config.signal, config.prevalence), 6),
                   "formula": "label ~ Bernoulli(sigmoid(intercept + scale * sum(weights * traits)))"},
        "repeat_readers": {"readers": list(shape.second_readers), "n": int(sum(r["repeat"] for r in records)),
                           "patients": [r["patient_id"] for r in records if r["repeat"]]},
        "centers": {c.name: c.to_dict() for c in centers},
        **({"ultrasound_scanners": {u.name: u.to_dict() for u in make_us_scanners(config)}}
           if any(seq in shape.sequences for seq in ("US_TUMOR", "US_LN")) else {}),
        "files": {"manifest": "manifest.csv", "clinical": "clinical.csv", "truth": "truth.csv"},
        "versions": {"alnm_ray": __version__, "numpy": np.__version__, "scipy": scipy.__version__,
                     "SimpleITK": sitk.Version_VersionString(), "python": platform.python_version()},
    }
