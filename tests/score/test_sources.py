"""Inputs of a scoring run: stored table versions, and the registry that re-computes tables from images."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.from_images import RECOMPUTE_FROM_IMAGES
from alnm_ray.score.sources import bundle_tables, feature_sources
from alnm_ray.store import FeatureStore


def test_radiomics_and_deep_are_recomputed_from_images_and_nothing_else():
    assert sorted(RECOMPUTE_FROM_IMAGES) == ["deep", "radiomics"]
    with pytest.raises(TypeError):
        RECOMPUTE_FROM_IMAGES["clinical"] = RECOMPUTE_FROM_IMAGES["deep"]  # read-only


def test_the_registry_replays_the_bundles_recorded_settings(bundle_dir):
    bundle = load_bundle(bundle_dir)
    for table in ("radiomics", "deep"):
        with pytest.raises(ConfigError, match=f"expected the '{table}' table's extraction settings"):
            RECOMPUTE_FROM_IMAGES[table](dataclasses.replace(bundle, configs={}), None, None, {}, weights=None,
                                         quiet=True, debug=False)


def test_feature_sources_pin_named_versions_and_refuse_other_tables(tmp_path, bundle_dir, rng, long_factory):
    bundle = load_bundle(bundle_dir)
    combined = dataclasses.replace(bundle, metadata={**bundle.metadata, "feature_set": "clinical+radiomics"})
    assert bundle_tables(combined) == ("clinical", "radiomics")
    store = FeatureStore(tmp_path / "store")
    first = store.write_version("radiomics", long_factory(rng, 10, cohort="ext"))
    store.write_version("radiomics", long_factory(rng, 12, cohort="ext"))
    store.write_version("clinical", pd.DataFrame({"patient_id": ["ext-0000"], "age": [50.0]}))
    (source,) = feature_sources(store, combined, [f"radiomics@{first.version[:10]}"])
    assert source.tables.infos["radiomics"].version == first.version
    assert source.tables.infos["clinical"].version == store.latest("clinical").version
    assert source.expected is None and source.tables.cohorts() == ["ext"]
    with pytest.raises(ConfigError, match=r"--features deep: expected one of the tables the bundle uses "
                                          r"\(clinical, radiomics\); got 'deep'"):
        feature_sources(store, combined, ["deep"])
