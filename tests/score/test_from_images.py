"""Scoring new cohorts from images: the bundle's own extraction, cached cases reused (real Ray, PyRadiomics)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.extract.job import run_extraction
from alnm_ray.extract.params import load_params
from alnm_ray.manifest import read_manifest
from alnm_ray.preprocess.config import load_plan
from alnm_ray.score.job import ScoreOptions, score_manifests
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore, query

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def test_manifests_are_extracted_with_the_bundles_settings_and_scored(tmp_path, ray_local, image_cohort_factory,
                                                                      tiny_params, fast_selection):
    rng = np.random.default_rng(11)
    store = FeatureStore(tmp_path / "store")
    train_manifest = image_cohort_factory(tmp_path, rng, 24, cohort="train_c")
    run_extraction(read_manifest(train_manifest, check_files=False), store, params=load_params(tiny_params),
                   plan=load_plan("none"), quiet=True)
    selection = dict(fast_selection, icc_threshold=None)  # one reader in this tiny cohort
    train_bundle(store, TrainConfig("radiomics", "lr", selection=selection, split=None), str(tmp_path / "b"))

    ext1 = image_cohort_factory(tmp_path, rng, 10, cohort="ext1", center="c2")
    ext2 = image_cohort_factory(tmp_path, rng, 8, cohort="ext2", center="c3", broken=(4,))
    result = score_manifests(str(tmp_path / "b"), store, [ext1, ext2, train_manifest],
                             out=str(tmp_path / "out" / "p.parquet"), options=ScoreOptions(n_boot=200))

    # every patient comes out once: 10 + 8 + 24 in = predictions + errors
    assert result.rows_in == 42 == len(result.predictions) + len(result.errors)
    (failed,) = result.errors.itertuples(index=False)
    assert (failed.cohort, failed.patient_id, failed.stage) == ("ext2", "ext2-004", "read")
    assert "ext2-004_gone.nii.gz" in failed.message and "no radiomics features" in failed.message
    # the bundle's own settings were replayed; the training cases were reused, not recomputed
    assert result.work[ext1]["radiomics"]["computed"] == 10
    assert result.work[train_manifest]["radiomics"] == {"computed": 0, "cached": 24, "failed": 0}
    stored = store.read("radiomics").to_pandas()
    assert {c for c in stored.columns if c.startswith("original_")} == {
        f"original_firstorder_{f}" for f in tiny_params["featureClass"]["firstorder"]}
    from alnm_ray.score.bundle import load_bundle

    configs = load_bundle(tmp_path / "b").configs
    assert configs["pyradiomics_params"]["featureClass"] == tiny_params["featureClass"]
    assert configs["preprocess"]["name"] == "none"
    # one validation summary per labelled cohort
    assert set(result.validation) == {"ext1", "ext2", "train_c"}
    assert result.validation["ext2"]["models"][result.bundle_id]["n"] == 7
    written = pd.read_parquet(tmp_path / "out" / "p.parquet")
    assert sorted(written["cohort"].unique()) == ["ext1", "ext2", "train_c"]
    assert query(store, "SELECT count(*) AS n FROM predictions").to_pylist() == [{"n": 41}]


def test_deep_bundles_replay_the_embedding_and_reuse_cached_cases(tmp_path, ray_local, image_cohort_factory,
                                                                   fast_selection):
    from alnm_ray.embed.config import EmbedConfig
    from alnm_ray.embed.job import run_embedding

    rng = np.random.default_rng(4)
    store = FeatureStore(tmp_path / "store")
    train_manifest = image_cohort_factory(tmp_path, rng, 14, cohort="train_c")
    run_embedding(read_manifest(train_manifest, check_files=False), store,
                  EmbedConfig(grid=(16, 16, 16), batch_size=8), plan="none", quiet=True)
    selection = dict(fast_selection, icc_threshold=None)
    train_bundle(store, TrainConfig("deep", "lr", selection=selection, split=None), str(tmp_path / "b"))
    from alnm_ray.score.bundle import load_bundle

    bundle = load_bundle(tmp_path / "b")
    assert bundle.configs["embed"]["grid"] == [16, 16, 16] and bundle.metadata["deep_weights_sha256"] is None
    ext = image_cohort_factory(tmp_path, rng, 5, cohort="ext1")
    result = score_manifests(str(tmp_path / "b"), store, [ext, train_manifest], out=str(tmp_path / "p.parquet"),
                             options=ScoreOptions(n_boot=100))
    assert result.rows_in == 19 == len(result.predictions)
    assert result.work[ext]["deep"]["computed"] == 5
    assert result.work[train_manifest]["deep"] == {"computed": 0, "cached": 14, "failed": 0}
