"""Generating one patient: label, lesion, six images, readers' masks, clinical row.

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
from alnm_ray.synth.lesion import ReaderStyle, draw_lesion, draw_reader_style, place_lesion
from alnm_ray.synth.mammo import draw_parenchyma, mammo_mask, mammogram
from alnm_ray.synth.volumes import (
    SEQUENCE_GRID, Grid, draw_anatomy, lesion_contrast, mri_grids, reader_mask, scanner,
    sequence_signal, tissue_maps,
)

#: gzip level of the written NIfTI files (zlib is deterministic for a fixed level).
COMPRESSION_LEVEL = 6


@dataclass(frozen=True)
class PatientPlan:
    """What the cohort decides about a patient before generating it.

    Args:
        index: 0-based patient number (the key of its random streams).
        patient_id: ``P0001``-style identifier.
        center: Index into the cohort's centres.
        repeat: Whether readers B and A2 also outline this patient.
    """

    index: int
    patient_id: str
    center: int
    repeat: bool


def patient_outcome(config: SynthConfig, index: int) -> tuple[Phenotype, float, int]:
    """A patient's traits, latent risk and ALNM label (cheap: no images).

    Example:
        >>> ph, latent, label = patient_outcome(SynthConfig(patients=5, seed=3), 0)
        >>> label in (0, 1)
        True
    """
    phenotype = draw_phenotype(patient_rng(config.seed, index, PatientStream.PHENOTYPE))
    latent = latent_risk(phenotype, config.signal, config.prevalence)
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
        config: The cohort's settings.
        plan: The patient's index, id, centre and repeat-reader membership.
        center: The centre's profile.

    Returns:
        A JSON-able record: ids, label, latent, traits, clinical row and the
        manifest rows as ``(sequence, reader, image, mask)`` relative paths.
    """
    preset, i = config.preset, plan.index
    phenotype, latent, label = patient_outcome(config, i)
    rng = patient_rng(config.seed, i, PatientStream.LESION)
    lesion = draw_lesion(phenotype, preset, rng)
    mg_fov = np.asarray(center.mg_size) * center.mg_spacing_mm
    fov = np.minimum(np.asarray(preset.mri_fov_mm), [mg_fov.min()] * 3)
    lesion = place_lesion(lesion, fov, rng)
    rng = patient_rng(config.seed, i, PatientStream.ANATOMY)
    anatomy = draw_anatomy(rng)
    contrast = lesion_contrast(phenotype, rng)
    readers = [READER_A] + ([READER_B, READER_A2] if plan.repeat else [])
    pid = plan.patient_id
    rows: list[tuple[str, str, str, str]] = []
    masks_a: dict[str, tuple[Grid, np.ndarray]] = {}

    def emit(seq: str, grid: Grid, image: np.ndarray, masks: dict[str, np.ndarray]) -> None:
        image_rel = f"images/{pid}/{seq}.nii.gz"
        write_nifti(image, grid, out_dir / image_rel)
        for reader in readers:
            mask_rel = f"masks/{pid}/{seq}_{reader}.nii.gz"
            write_nifti(masks[reader], grid, out_dir / mask_rel)
            rows.append((seq, reader, image_rel, mask_rel))
        masks_a[seq] = (grid, masks[READER_A])

    grids = mri_grids(center)
    maps = {name: tissue_maps(grid, lesion, anatomy, preset.pv_samples,
                              anatomy.dwi_shift_mm if name == "diffusion" else None)
            for name, grid in grids.items()}
    for s, seq in enumerate(SYNTH_SEQUENCES):
        styles = _reader_styles(config, i, s)
        noise = patient_rng(config.seed, i, PatientStream.NOISE, s)
        if seq.startswith("MG_"):
            parenchyma = draw_parenchyma(patient_rng(config.seed, i, PatientStream.MG, s))
            grid, image = mammogram(seq, lesion, parenchyma, anatomy.density, center,
                                    preset.mg_line_samples, noise)
            masks = {r: mammo_mask(seq, lesion, styles[r], center, preset.mg_line_samples) for r in readers}
        else:
            name = SEQUENCE_GRID[seq]
            grid, tissue = grids[name], maps[name]
            image = scanner(seq, sequence_signal(seq, tissue, contrast, anatomy), tissue, center, noise)
            shift = anatomy.dwi_shift_mm if name == "diffusion" else None
            masks = {r: reader_mask(grid, lesion, styles[r], shift) for r in readers}
        emit(seq, grid, image, masks)
    dce_grid, dce_mask = masks_a["DCE_P2"]
    diameter = max_diameter_mm(dce_mask, dce_grid.spacing)
    clinical = draw_clinical(label, phenotype, diameter, signal=config.signal, prevalence=config.prevalence,
                             rng=patient_rng(config.seed, i, PatientStream.CLINICAL))
    return {
        "index": i, "patient_id": pid, "center": center.name, "label": label, "repeat": plan.repeat,
        "latent": round(latent, 6), "risk_score": round(risk_score(phenotype), 6),
        "phenotype": phenotype.to_dict(),
        "lesion": {"radius_mm": round(lesion.radius_mm, 4), "n_spicules": len(lesion.spicules),
                   "necrosis": round(lesion.necrosis, 4), "edge_mm": round(lesion.edge_mm, 4),
                   "texture_amp": round(lesion.texture_amp, 4),
                   "enhancement": round(contrast.enhancement, 4), "adc_1e3": round(contrast.adc, 4)},
        "clinical": clinical,
        "rows": rows,
    }


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
