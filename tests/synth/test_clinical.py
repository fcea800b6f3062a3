"""Clinical variables: marginals, label associations, internal consistency."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.synth.clinical import CLINICAL_COLUMNS, draw_clinical, max_diameter_mm
from alnm_ray.synth.latent import Phenotype


def _table(signal: float, n: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        label = int(i % 7 < 3)  # ~43 % positive
        ph = Phenotype(*rng.standard_normal(5))
        rows.append({"label": label, "irr": ph.irregularity,
                     **draw_clinical(label, ph, 12.0, signal=signal, prevalence=0.433, rng=rng)})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def strong() -> pd.DataFrame:
    return _table(1.0)


@pytest.fixture(scope="module")
def null() -> pd.DataFrame:
    return _table(0.0)


def _rate(df: pd.DataFrame, col: str, value: str, label: int) -> float:
    return float((df.loc[df.label == label, col] == value).mean())


def test_columns_and_types(strong):
    assert set(CLINICAL_COLUMNS) <= set(strong.columns)
    assert strong.age.between(25, 85).all()
    assert set(strong.ki67) == {"High", "Low"} and set(strong.mg_alnm) <= {"Yes", "No"}


def test_ki67_high_like_guo_2024(strong):
    assert _rate(strong, "ki67", "High", 1) == pytest.approx(0.86, abs=0.05)
    assert _rate(strong, "ki67", "High", 0) == pytest.approx(0.66, abs=0.05)


def test_associations_point_the_right_way(strong):
    assert _rate(strong, "molecular_subtype", "Luminal A", 1) < _rate(strong, "molecular_subtype", "Luminal A", 0)
    assert _rate(strong, "histology", "DCIS", 1) == 0.0
    assert _rate(strong, "mri_alnm", "Yes", 1) > _rate(strong, "mri_alnm", "Yes", 0) + 0.3
    assert strong.loc[strong.label == 1, "age"].mean() < strong.loc[strong.label == 0, "age"].mean()
    assert 0.78 <= float((strong.er == "Positive").mean()) <= 0.91  # Guo 2024: 83-85 %


def test_signal_zero_removes_the_associations(null):
    for col, value in [("ki67", "High"), ("mri_alnm", "Yes"), ("molecular_subtype", "Luminal A")]:
        assert abs(_rate(null, col, value, 1) - _rate(null, col, value, 0)) < 0.06


def test_birads_follows_the_lesion_margin(strong):
    high = strong.mri_birads.isin(["4C", "5"])
    assert strong.loc[high, "irr"].mean() > strong.loc[~high, "irr"].mean() + 0.5


def test_receptors_agree_with_the_subtype(strong):
    lum_a = strong[strong.molecular_subtype == "Luminal A"]
    assert (lum_a.er == "Positive").all() and (lum_a.her2 == "Negative").all() and (lum_a.ki67 == "Low").all()
    tn = strong[strong.molecular_subtype == "Triple-negative"]
    assert ((tn.er == "Negative") & (tn.pr == "Negative") & (tn.her2 == "Negative")).all()
    her2 = strong[strong.molecular_subtype.isin(["HER2-enriched", "Luminal B HER2-positive"])]
    assert (her2.her2 == "Positive").all()
    assert (strong.loc[strong.ki67 == "High", "ki67_index"] >= 15).all()


def test_max_diameter_of_a_known_mask():
    mask = np.zeros((3, 5, 10), np.uint8)
    mask[1, 2, 2:8] = 1  # 6 voxels along x
    assert max_diameter_mm(mask, (0.5, 1.0, 2.0)) == pytest.approx(2.5)
    mask[0, 2, 2] = 1
    assert max_diameter_mm(mask, (0.5, 1.0, 2.0)) == pytest.approx(np.hypot(2.5, 2.0))
    assert max_diameter_mm(np.ones((1, 1, 1)), (0.7, 0.7, 3.0)) == 3.0
