"""run_embedding with the 2-D extractors on a real local Ray and a real store."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.embed.cases import load_crop
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.extractors import EXTRACTORS
from alnm_ray.embed.inputs import to_network_input
from alnm_ray.embed.job import run_embedding
from alnm_ray.embed.model import embed_images
from alnm_ray.exceptions import RandomWeightsWarning
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.store import FeatureStore, to_wide

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _write(arr: np.ndarray, path: Path) -> str:
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.1,) * arr.ndim)
    sitk.WriteImage(img, str(path))
    return str(path)


def _cohort(root: Path, rng: np.random.Generator, n_patients: int = 2) -> pd.DataFrame:
    """Per patient: MG_CC and MG_MLO mammograms, US_TUMOR and US_LN ultrasound (2-D, 40 x 36 pixels)."""
    root.mkdir(parents=True, exist_ok=True)
    rows = []
    for p in range(n_patients):
        for j, seq in enumerate(("MG_CC", "MG_MLO", "US_TUMOR", "US_LN")):
            yy, xx = np.mgrid[:40, :36]
            blob = ((yy - 20) / 8.0) ** 2 + ((xx - 18) / (6.0 + p + j)) ** 2 <= 1
            img = rng.normal(300, 30, size=(40, 36)) + 200 * blob
            stem = f"P{p}_{seq}"
            rows.append(dict(cohort="c1", center="A", patient_id=f"P{p}", sequence=seq, reader="A",
                             image=_write(img.astype(np.float32), root / f"{stem}.nii.gz"),
                             mask=_write(blob.astype(np.uint8), root / f"{stem}_mask.nii.gz"),
                             mask_label=1, label=p % 2))
    return pd.DataFrame(rows)


def _expected(row: dict, cfg: EmbedConfig, name: str) -> np.ndarray:
    crop = load_crop(row, PreprocessConfig(), cfg.margin_mm)
    image = to_network_input(crop, cfg, sequence=row["sequence"])
    return embed_images(EXTRACTORS[name].build(seed=cfg.seed, **cfg.model_options()), image[None])[0]


def test_mammography_and_ultrasound_extractors_end_to_end(ray_local, tmp_path: Path, rng) -> None:
    manifest = _cohort(tmp_path / "c", rng)
    cfg = EmbedConfig(extractor="resnet18_2d", sequence_extractors={"US_TUMOR": "vgg19_2d", "US_LN": "vgg19_2d"},
                      grid_2d=32, batch_size=4, pool_min=1, pool_max=1)
    store = FeatureStore(str(tmp_path / "store"))
    with pytest.warns(RandomWeightsWarning, match=r"resnet18_2d=random\(seed=0\); vgg19_2d=random\(seed=0\)"):
        first = run_embedding(manifest, store, cfg, plan="none")
    assert (first.computed, first.failed) == (8, 0)

    table = store.read("deep").to_pandas().set_index(["patient_id", "sequence"]).sort_index()
    deep = [c for c in table.columns if c.startswith("deep_")]
    assert deep[0] == "deep_000" and deep[-1] == "deep_511" and len(deep) == 512
    mg = table.loc[table.index.get_level_values("sequence").str.startswith("MG"), deep].to_numpy()
    us = table.loc[table.index.get_level_values("sequence").str.startswith("US"), deep].to_numpy()
    assert np.isfinite(mg).all()
    assert np.isfinite(us[:, :128]).all() and np.isnan(us[:, 128:]).all()  # VGG-19 gives 128 values
    row = manifest.iloc[0].to_dict()  # P0 / MG_CC through the real Ray job equals the in-process network
    np.testing.assert_allclose(table.loc[("P0", "MG_CC"), deep].to_numpy(float), _expected(row, cfg, "resnet18_2d"),
                               rtol=1e-4, atol=1e-5)
    row = manifest.iloc[3].to_dict()  # P0 / US_LN
    np.testing.assert_allclose(table.loc[("P0", "US_LN"), deep[:128]].to_numpy(float),
                               _expected(row, cfg, "vgg19_2d"), rtol=1e-4, atol=1e-5)
    params = store.latest("deep").params
    assert "resnet18_2d: monai.networks.nets.resnet18(spatial_dims=2" in params["model"]
    assert "vgg19_2d: VGG-19 configuration E" in params["model"]

    # the wide view: 512 per mammography view, so 1,024 for CC + MLO; sequences never collide
    wide = to_wide(store.read("deep"))
    assert sum(c.startswith(("MG_CC__deep_", "MG_MLO__deep_")) for c in wide.columns) == 1024
    assert wide[[f"US_LN__deep_{i:03d}" for i in range(128)]].notna().all().all()

    # the same config again reuses every case; another reduction is another config hash
    with pytest.warns(RandomWeightsWarning):
        same = run_embedding(manifest, store, cfg, plan="none")
        other = run_embedding(manifest, store, cfg.with_(vgg_reduction="fc1_truncated"), plan="none")
    assert (same.cached, same.computed) == (8, 0)
    assert other.computed == 8  # the hash covers the run's whole config, so every case is redone


def test_vgg_only_run_has_128_columns_and_refuses_a_volume(ray_local, tmp_path: Path, rng, cohort_factory) -> None:
    manifest = cohort_factory(tmp_path / "c", rng, n_patients=1)  # one 3-D T2WI, one 2-D MG_CC
    cfg = EmbedConfig(extractor="vgg19_2d", grid_2d=32, batch_size=2, pool_min=1, pool_max=1)
    store = FeatureStore(str(tmp_path / "store"))
    with pytest.warns(RandomWeightsWarning):
        summary = run_embedding(manifest, store, cfg, plan="none")
    assert (summary.computed, summary.failed) == (2, 1)
    table = store.read("deep").to_pandas()
    assert [c for c in table.columns if c.startswith("deep_")][-1] == "deep_127"
    assert table["sequence"].tolist() == ["MG_CC"]
    errors = store.read_errors("deep").to_pandas()
    assert errors[["sequence", "stage", "error_type"]].values.tolist() == [["T2WI", "embed", "ExtractionError"]]
    assert "the vgg19_2d extractor expects a 2-D image" in errors.loc[0, "message"]
    assert "Map this sequence to resnet18_3d" in errors.loc[0, "message"]
