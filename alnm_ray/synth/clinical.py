"""The clinical table: age, size, receptors, Ki-67, subtype, BI-RADS, reported ALNM.

Marginals and label associations follow the baseline table of Guo et al. 2024
(Table 1, training + test pooled; ALNM+ vs ALNM−): Ki-67 high 87 % vs 68 %,
Luminal A 11 % vs 24 %, Luminal B HER2− 61 % vs 44 %, invasive ductal
carcinoma 96 % vs 79 %, no pure DCIS among ALNM+.  The paper does not print
age, BI-RADS or the imaging-reported node status; their distributions here are
plausible assumptions (stated next to each constant).

How each variable is linked to the label:

* molecular subtype (hence ER/PR/HER2), Ki-67, histology, age and the
  imaging-reported ALNM are drawn given the label, with the ALNM+/ALNM−
  difference scaled by ``min(signal, 1)``: at ``signal = 0`` they are drawn
  from the pooled marginals, independent of the label;
* BI-RADS and the maximum diameter follow the lesion's traits (what a
  radiologist sees), so they carry the label only through the images.
"""

from __future__ import annotations

from statistics import NormalDist
from typing import Any

import numpy as np

from alnm_ray.synth.latent import Phenotype

SUBTYPES: tuple[str, ...] = ("Luminal A", "Luminal B HER2-negative", "Luminal B HER2-positive",
                             "HER2-enriched", "Triple-negative")
#: P(subtype | ALNM+) and P(subtype | ALNM−), Guo 2024 Table 1 pooled (n = 119 / 151).
_SUBTYPE_P = {1: np.array([13, 72, 17, 9, 8]) / 119.0, 0: np.array([36, 66, 27, 8, 14]) / 151.0}
#: P(Ki-67 high | not Luminal A, label): Luminal A is Ki-67 low by definition; these
#: give 87 % vs 66 % Ki-67 high overall (Guo 2024: 87 % vs 68 %).
_KI67_HIGH = {1: 0.97, 0: 0.86}
#: P(IDC), P(DCIS) per label (Guo 2024: IDC 96 % vs 79 %; DCIS 0 % vs 8 %); the rest "Other".
_HISTOLOGY = {1: (0.96, 0.0), 0: (0.79, 0.08)}
#: Mean age (years) per label and SD: assumed (Chinese breast-cancer cohorts: ~50 ± 10;
#: node-positive patients slightly younger).
_AGE_MEAN, _AGE_SD = {1: 49.5, 0: 52.0}, 10.5
#: Imaging-reported suspicious nodes, assumed sensitivity/specificity: MG 0.45/0.90, MRI 0.65/0.82.
_REPORTED = {"mg_alnm": (0.45, 0.90), "mri_alnm": (0.65, 0.82)}
BIRADS: tuple[str, ...] = ("4A", "4B", "4C", "5")
#: Assumed BI-RADS marginals of biopsy-proven cancers (4A, 4B, 4C, 5).
_BIRADS_P = {"mg_birads": (0.15, 0.25, 0.30, 0.30), "mri_birads": (0.10, 0.20, 0.30, 0.40)}
#: Weights of (size, irregularity, enhancement) traits and reading noise SD in the BI-RADS score.
_BIRADS_W = {"mg_birads": ((0.5, 0.9, 0.0), 0.8), "mri_birads": ((0.5, 0.7, 0.5), 0.7)}

#: Columns of ``clinical.csv`` after ``patient_id``, ``cohort``, ``center``.
CLINICAL_COLUMNS: tuple[str, ...] = (
    "age", "max_diameter_mm", "histology", "er", "pr", "her2", "ki67", "ki67_index",
    "molecular_subtype", "mg_birads", "mri_birads", "mg_alnm", "mri_alnm",
)


def _mix(by_label: dict[int, Any], label: int, strength: float, prevalence: float) -> np.ndarray:
    """Label-conditional probabilities pulled toward the pooled marginal as strength → 0."""
    pooled = prevalence * np.asarray(by_label[1], float) + (1 - prevalence) * np.asarray(by_label[0], float)
    return pooled + strength * (np.asarray(by_label[label], float) - pooled)


def _receptors(subtype: str, ki67_high: bool, rng: np.random.Generator) -> tuple[str, str, str]:
    """ER, PR and HER2 consistent with the subtype (St Gallen surrogate definitions)."""
    her2 = "Positive" if subtype in ("Luminal B HER2-positive", "HER2-enriched") else "Negative"
    if subtype in ("HER2-enriched", "Triple-negative"):
        return "Negative", "Negative", her2
    if subtype == "Luminal A":
        return "Positive", "High", her2
    if subtype == "Luminal B HER2-negative" and not ki67_high:
        return "Positive", str(rng.choice(["Low", "Negative"], p=[0.5, 0.5])), her2  # PR low defines it
    return "Positive", str(rng.choice(["High", "Low", "Negative"], p=[0.6, 0.2, 0.2])), her2


def _birads(kind: str, phenotype: Phenotype, rng: np.random.Generator) -> str:
    (w_size, w_irr, w_enh), noise = _BIRADS_W[kind]
    score = (w_size * phenotype.size + w_irr * phenotype.irregularity + w_enh * phenotype.enhancement
             + rng.normal(0.0, noise))
    sd = np.sqrt(w_size ** 2 + w_irr ** 2 + w_enh ** 2 + noise ** 2)
    cuts = np.array([NormalDist().inv_cdf(q) for q in np.cumsum(_BIRADS_P[kind])[:-1]]) * sd
    return BIRADS[int(np.searchsorted(cuts, score))]


def draw_clinical(label: int, phenotype: Phenotype, max_diameter_mm: float, *, signal: float,
                  prevalence: float, rng: np.random.Generator) -> dict[str, Any]:
    """One patient's clinical variables (see the module docstring for the links).

    Args:
        label: ALNM status (0/1).
        phenotype: Tumour traits (drive BI-RADS).
        max_diameter_mm: Maximum 3-D diameter of reader A's DCE mask (mm).
        signal: Label-association strength; ``min(signal, 1)`` scales the differences.
        prevalence: Weight of the ALNM+ distribution in the pooled marginals.
        rng: The patient's clinical stream.

    Returns:
        ``{column: value}`` for :data:`CLINICAL_COLUMNS`.
    """
    s = min(float(signal), 1.0)
    subtype = SUBTYPES[int(rng.choice(len(SUBTYPES), p=_mix(_SUBTYPE_P, label, s, prevalence)))]
    p_high = float(_mix(_KI67_HIGH, label, s, prevalence))
    ki67_high = subtype != "Luminal A" and bool(rng.random() < p_high)
    er, pr, her2 = _receptors(subtype, ki67_high, rng)
    ki67_index = int(rng.integers(15, 81)) if ki67_high else int(rng.integers(1, 14))
    p_idc, p_dcis = _mix(_HISTOLOGY, label, s, prevalence)
    u = rng.random()
    histology = "IDC" if u < p_idc else ("DCIS" if u < p_idc + p_dcis else "Other")
    age_mean = float(_mix(_AGE_MEAN, label, s, prevalence))
    age = int(np.clip(np.rint(rng.normal(age_mean, _AGE_SD)), 25, 85))
    reported = {}
    for column, (sens, spec) in _REPORTED.items():
        p_yes = float(_mix({1: sens, 0: 1 - spec}, label, s, prevalence))
        reported[column] = "Yes" if rng.random() < p_yes else "No"
    return {
        "age": age,
        "max_diameter_mm": round(float(max_diameter_mm), 1),
        "histology": histology,
        "er": er, "pr": pr, "her2": her2,
        "ki67": "High" if ki67_high else "Low",
        "ki67_index": ki67_index,
        "molecular_subtype": subtype,
        "mg_birads": _birads("mg_birads", phenotype, rng),
        "mri_birads": _birads("mri_birads", phenotype, rng),
        **reported,
    }


def max_diameter_mm(mask: np.ndarray, spacing: tuple[float, ...]) -> float:
    """Largest distance (mm) between voxel centres of a mask (like PyRadiomics' Maximum3DDiameter).

    Args:
        mask: ``(z, y, x)`` binary array.
        spacing: ``(x, y, z)`` spacing in mm.
    """
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import pdist

    pts = np.argwhere(mask > 0)[:, ::-1] * np.asarray(spacing, float)
    if len(pts) < 2:
        return float(max(spacing))
    try:
        pts = pts[ConvexHull(pts).vertices]
    except (QhullError, ValueError):  # flat or collinear masks: use every voxel
        pass
    return float(pdist(pts).max())
