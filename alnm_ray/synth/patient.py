"""Generating one patient: label, lesion, the study shape's images, readers' masks, clinical row.

Everything a patient gets is drawn from its own named random streams
(:mod:`alnm_ray.synth._rng`), so a patient's files are the same bytes whether
it is generated alone, in a serial loop or in any Ray task.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnm_ray.constants import READER_A, READER_A2, READER_B
from alnm_ray.synth._rng import PatientStream, patient_rng
from alnm_ray.synth.centers import SYNTH_SEQUENCES, CenterProfile
from alnm_ray.synth.clinical import draw_clinical, max_diameter_mm
from alnm_ray.synth.config import SynthConfig
from alnm_ray.synth.latent import Phenotype, draw_label, draw_phenotype, latent_risk, risk_score
from alnm_ray.synth.lesion import LesionShape, ReaderStyle, draw_lesion, draw_reader_style, place_lesion
from alnm_ray.synth.mammo import draw_parenchyma, mammo_mask, mammogram
from alnm_ray.synth.reader_study import reader_calls
from alnm_ray.synth.studies import READER_CALL_COLUMNS, StudyShape
from alnm_ray.synth.ultrasound import (
    draw_node, make_us_scanners, node_involvement, node_view, tumour_view, us_mask,
)
from alnm_ray.synth.variables import draw_variables
from alnm_ray.synth.volumes import (
    SEQUENCE_GRID, Grid, draw_anatomy, lesion_contrast, mri_grids, reader_mask, scanner,
    sequence_signal, tissue_maps,
)

#: gzip level of the written NIfTI files (zlib is deterministic for a fixed level).
COMPRESSION_LEVEL = 6
#: Random sub-stream of each sequence (Guo 2024's six first, so their bytes never change).
SEQUENCE_STREAMS: dict[str, int] = {**{seq: k for k, seq in enumerate(SYNTH_SEQUENCES)},
                                    "DCE_P1": 6, "US_TUMOR": 7, "US_LN": 8}


@dataclass(frozen=True)
class PatientPlan:
    """What the cohort decides about a patient before generating it.

    Args:
        index: 0-based patient number (the key of its random streams).
        patient_id: ``P0001``-style identifier.
        center: Index into the cohort's centres.
        repeat: Whether the shape's second readers (B, A2) also outline this patient.
        cohort: Cohort name of the patient's arm (``""``: the config's).
        split: The patient's ``split`` value (``""``: none).
        arm: The study arm (``development``, ``external``, …).
        prevalence: The arm's expected prevalence (``None``: the config's).
    """

    index: int
    patient_id: str
    center: int
    repeat: bool
    cohort: str = ""
    split: str = ""
    arm: str = "development"
    prevalence: float | None = None


def patient_outcome(config: SynthConfig, index: int,
                    prevalence: float | None = None) -> tuple[Phenotype, float, int]:
    """A patient's traits, latent risk and ALNM label (cheap: no images).

    Args:
        config: The cohort's settings.
        index: 0-based patient number.
        prevalence: The patient's arm prevalence (default: ``config.prevalence``).

    Example:
        >>> ph, latent, label = patient_outcome(SynthConfig(patients=5, seed=3), 0)
        >>> label in (0, 1)
        True
    """
    phenotype = draw_phenotype(patient_rng(config.seed, index, PatientStream.PHENOTYPE))
    prev = config.prevalence if prevalence is None else prevalence
    latent = latent_risk(phenotype, config.signal, prev)  # type: ignore[arg-type]  # resolved by SynthConfig
    label = draw_label(latent, patient_rng(config.seed, index, PatientStream.LABEL))
    return phenotype, latent, label


def write_nifti(array: np.ndarray, grid: Grid, path: Path) -> None:
    """Write ``array`` (NumPy order) with ``grid``'s geometry as compressed NIfTI."""
    image = sitk.GetImageFromArray(array)
    image.SetSpacing(grid.spacing)
    image.SetOrigin(grid.origin)
    path.parent.mkdir(parents=True, exist_ok=True)
    sitk.WriteImage(image, str(path), useCompression=True, compressionLevel=COMPRESSION_LEVEL)


def _reader_styles(config: SynthConfig, index: int, seq_index: int) -> dict[str, ReaderStyle]:
    rng = patient_rng(config.seed, index, PatientStream.READERS, seq_index)
    a = draw_reader_style(READER_A, rng)
    b = draw_reader_style(READER_B, rng)
    return {READER_A: a, READER_B: b, READER_A2: draw_reader_style(READER_A2, rng, first=a)}


def generate_patient(out_dir: Path, config: SynthConfig, plan: PatientPlan,
                     center: CenterProfile) -> dict[str, Any]:
    """Generate and write one patient's images and masks.

    Args:
        out_dir: Cohort folder; files go to ``images/<id>/`` and ``masks/<id>/``.
        config: The cohort's settings (its study shape picks the sequences).
        plan: The patient's index, id, centre, arm, split and second-reader membership.
        center: The centre's profile.

    Returns:
        A JSON-able record: ids, label, latent, traits, clinical row and the
        manifest rows as ``(sequence, reader, image, mask)`` relative paths.
    """
    shape, preset, i = config.shape, config.preset, plan.index
    phenotype, latent, label = patient_outcome(config, i, plan.prevalence)
    risk = risk_score(phenotype)
    rng = patient_rng(config.seed, i, PatientStream.LESION)
    lesion = draw_lesion(phenotype, preset, rng)
    mg_fov = np.asarray(center.mg_size) * center.mg_spacing_mm
    fov = np.minimum(np.asarray(preset.mri_fov_mm), [mg_fov.min()] * 3)
    lesion = place_lesion(lesion, fov, rng)
    rng = patient_rng(config.seed, i, PatientStream.ANATOMY)
    anatomy = draw_anatomy(rng)
    contrast = lesion_contrast(phenotype, rng)
    readers = [READER_A] + (list(shape.second_readers) if plan.repeat else [])
    pid = plan.patient_id
    rows: list[tuple[str, str, str, str]] = []
    masks_a: dict[str, tuple[Grid, np.ndarray]] = {}
    involvement = node_involvement(risk, patient_rng(config.seed, i, PatientStream.NODE))
    drivers = {**phenotype.to_dict(), "node": involvement}
    clinical = _study_clinical(config, shape, label, risk, drivers, plan) if shape.variables else {}

    def emit(seq: str, grid: Grid, image: np.ndarray, masks: dict[str, np.ndarray]) -> None:
        image_rel = f"images/{pid}/{seq}.nii.gz"
        write_nifti(image, grid, out_dir / image_rel)
        for reader in readers:
            mask_rel = f"masks/{pid}/{seq}_{reader}.nii.gz"
            write_nifti(masks[reader], grid, out_dir / mask_rel)
            rows.append((seq, reader, image_rel, mask_rel))
        masks_a[seq] = (grid, masks[READER_A])

    grids = mri_grids(center)
    needed = {SEQUENCE_GRID[seq] for seq in shape.sequences if seq in SEQUENCE_GRID}
    maps = {name: tissue_maps(grid, lesion, anatomy, preset.pv_samples,
                              anatomy.dwi_shift_mm if name == "diffusion" else None)
            for name, grid in grids.items() if name in needed}
    us_scanner = make_us_scanners(config)[plan.center] if any(q.startswith("US_") for q in shape.sequences) else None
    for seq in shape.sequences:
        s = SEQUENCE_STREAMS[seq]
        styles = _reader_styles(config, i, s)
        noise = patient_rng(config.seed, i, PatientStream.NOISE, s)
        if seq.startswith("MG_"):
            parenchyma = draw_parenchyma(patient_rng(config.seed, i, PatientStream.MG, s))
            grid, image = mammogram(seq, lesion, parenchyma, anatomy.density, center,
                                    preset.mg_line_samples, noise)
            masks = {r: mammo_mask(seq, lesion, styles[r], center, preset.mg_line_samples) for r in readers}
        elif seq.startswith("US_"):
            us_rng = patient_rng(config.seed, i, PatientStream.ULTRASOUND, s)
            placed: LesionShape
            if seq == "US_TUMOR":
                grid, image, placed = tumour_view(lesion, phenotype, clinical, us_scanner,  # type: ignore[arg-type]
                                                  us_rng, noise)
            else:
                node = draw_node(involvement, preset, us_rng)
                grid, image, placed = node_view(node, us_scanner, us_rng, noise)  # type: ignore[arg-type]
            masks = {r: us_mask(placed, styles[r], grid) for r in readers}
        else:
            name = SEQUENCE_GRID[seq]
            grid, tissue = grids[name], maps[name]
            image = scanner(seq, sequence_signal(seq, tissue, contrast, anatomy), tissue, center, noise)
            shift = anatomy.dwi_shift_mm if name == "diffusion" else None
            masks = {r: reader_mask(grid, lesion, styles[r], shift) for r in readers}
        emit(seq, grid, image, masks)
    if shape.variables:
        clinical = _with_measurements(shape, clinical, masks_a)
    else:
        dce_grid, dce_mask = masks_a["DCE_P2"]
        diameter = max_diameter_mm(dce_mask, dce_grid.spacing)
        clinical = draw_clinical(label, phenotype, diameter, signal=config.signal,
                                 prevalence=float(config.prevalence),  # type: ignore[arg-type]
                                 rng=patient_rng(config.seed, i, PatientStream.CLINICAL))
    record = {
        "index": i, "patient_id": pid, "center": center.name, "label": label, "repeat": plan.repeat,
        "latent": round(latent, 6), "risk_score": round(risk, 6),
        "phenotype": phenotype.to_dict(),
        "lesion": {"radius_mm": round(lesion.radius_mm, 4), "n_spicules": len(lesion.spicules),
                   "necrosis": round(lesion.necrosis, 4), "edge_mm": round(lesion.edge_mm, 4),
                   "texture_amp": round(lesion.texture_amp, 4),
                   "enhancement": round(contrast.enhancement, 4), "adc_1e3": round(contrast.adc, 4)},
        "clinical": clinical,
        "rows": rows,
        "cohort": plan.cohort or config.cohort, "split": plan.split, "arm": plan.arm,
        "truth_extra": {} if shape.name == "guo2024" else
        {"arm": plan.arm, "node_involvement": round(involvement, 6)},
    }
    return record


def _study_clinical(config: SynthConfig, shape: StudyShape, label: int, risk: float,
                    drivers: dict[str, float], plan: PatientPlan) -> dict[str, Any]:
    """The shape's drawn and derived clinical values (measured ones come after the images)."""
    rng = patient_rng(config.seed, plan.index, PatientStream.CLINICAL)
    prevalence = config.prevalence if plan.prevalence is None else plan.prevalence
    values = draw_variables(shape.variables, label=label, drivers=drivers, signal=config.signal,
                            prevalence=prevalence, rng=rng)  # type: ignore[arg-type]  # resolved by SynthConfig
    if shape.derive is not None:
        values.update(shape.derive(values, rng))
    if shape.reader_calls:
        calls = (reader_calls(risk, drivers["node"], patient_rng(config.seed, plan.index, PatientStream.READER_CALLS))
                 if plan.arm == "prospective" else dict.fromkeys(READER_CALL_COLUMNS))
        values.update(calls)
    return values


def _with_measurements(shape: StudyShape, values: dict[str, Any],
                       masks_a: dict[str, tuple[Grid, np.ndarray]]) -> dict[str, Any]:
    """``values`` with every measured variable filled in from reader A's mask, in the shape's column order."""
    out = dict(values)
    for var in shape.variables:
        if not var.measured:
            continue
        grid, mask = masks_a[str(var.measured_on)]
        if var.measure == "volume_cm3":
            value = float(mask.sum()) * float(np.prod(grid.spacing)) / 1000.0
        else:
            value = max_diameter_mm(mask, grid.spacing) / 10.0
        out[var.name] = round(value, var.digits)
    return {name: out[name] for name in shape.clinical_columns}


def generate_patients(out_dir: str, config: SynthConfig, plans: list[PatientPlan],
                      centers: list[CenterProfile]) -> list[dict[str, Any]]:
    """Generate several patients in order (the body of one serial loop or Ray task).

    ``out_dir`` must be visible to every worker (shared storage on a multi-node cluster).

    Raises:
        RuntimeError: Naming the patient, when generating it fails (a bug: the
            generator has no user input per patient); the cause is chained.
    """
    base = Path(out_dir)
    records = []
    for plan in plans:
        try:
            records.append(generate_patient(base, config, plan, centers[plan.center]))
        except Exception as err:  # noqa: BLE001 - re-raised with the patient named
            raise RuntimeError(f"synthetic patient {plan.patient_id} (index {plan.index}, seed {config.seed}): "
                               f"generation failed with {type(err).__name__}: {err}. This is a bug in "
                               "alnm_ray.synth; please report it with the seed.") from err
    return records
