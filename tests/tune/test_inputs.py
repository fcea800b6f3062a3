"""Reading a sweep's inputs: feature-set names, labels, splits, readers, clear errors."""

from __future__ import annotations

import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError, StoreError
from alnm_ray.store import FeatureStore
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import load_inputs, resolve_feature_sets

AVAILABLE = ["clinical", "deep", "radiomics", "mytable"]


def cfg_for(store, **kw) -> TuneRunConfig:
    return TuneRunConfig(store=str(store.uri), repeats=2, folds=3, **kw)


def test_all_expands_to_available_sets_and_post_fusion() -> None:
    plain, fusion = resolve_feature_sets(["all"], AVAILABLE)
    assert plain == ["radiomics", "deep", "combined", "clinical", "clinical+radiomics",
                     "clinical+deep", "clinical+combined"]
    assert fusion == {"post:clinical+radiomics+deep": ["clinical", "radiomics", "deep"]}
    plain, fusion = resolve_feature_sets(["all"], ["radiomics"])
    assert plain == ["radiomics"] and fusion == {}
    assert resolve_feature_sets(["mytable", "post:radiomics+mytable"], AVAILABLE) == (
        ["mytable"], {"post:radiomics+mytable": ["radiomics", "mytable"]})


def test_unknown_set_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'radiomics'") as err:
        resolve_feature_sets(["radiomic"], AVAILABLE)
    assert "post:clinical+radiomics+deep" in str(err.value)
    with pytest.raises(ConfigError, match="at least two distinct"):
        resolve_feature_sets(["post:radiomics"], AVAILABLE)
    with pytest.raises(ConfigError, match="cannot be combined with --search"):
        resolve_feature_sets(["post:radiomics+deep"], AVAILABLE, search=True)
    assert resolve_feature_sets(["all"], AVAILABLE, search=True)[1] == {}


def test_inputs_assemble_sets_labels_split_and_readers(tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=40, split=True, unlabelled=4)
    inputs = load_inputs(made["store"], cfg_for(made["store"], feature_sets=("combined", "clinical")))
    assert inputs.n_unlabelled == 4 and len(inputs.y) == 36
    assert list(inputs.sets) == ["combined", "clinical"]
    assert inputs.sets["combined"].shape[1] == 12 + 8
    assert all(X.index.equals(inputs.y.index) for X in inputs.sets.values())
    assert inputs.split_source == "manifest"
    assert set(inputs.train_ids) | set(inputs.test_ids) == set(inputs.y.index)
    assert sorted(inputs.reader_ratings.readers) == ["A", "A2", "B"]
    assert set(inputs.table_versions) == {"radiomics", "deep", "clinical"}
    cohort = inputs.cohort
    assert {"patient_id", "center", "label", "split", "age", "grade"} <= set(cohort.columns)
    assert (cohort["label"].to_numpy() == inputs.y.to_numpy()).all()


def test_random_split_is_seeded_and_stratified(tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=60)
    a = load_inputs(made["store"], cfg_for(made["store"], feature_sets=("deep",)))
    b = load_inputs(made["store"], cfg_for(made["store"], feature_sets=("deep",)))
    assert a.split_source == "random" and a.test_ids == b.test_ids and len(a.test_ids) == 18
    assert a.reader_ratings is None  # deep features skip the ICC filter


def test_clinical_file_is_stored_as_a_version(tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=30, clinical=False)
    path = tmp_path / "clin.csv"
    pd.DataFrame({"patient_id": made["ids"], "bmi": range(30), "er": ["pos", "neg"] * 15}).to_csv(path, index=False)
    inputs = load_inputs(made["store"], cfg_for(made["store"], feature_sets=("clinical+deep",),
                                                clinical=str(path)))
    assert "clinical" in FeatureStore(made["store"].uri).tables()
    assert inputs.table_versions["clinical"] == FeatureStore(made["store"].uri).latest("clinical").version
    assert {"bmi", "er"} <= set(inputs.sets["clinical+deep"].columns)


def test_errors_are_clear(tmp_path, tiny_store) -> None:
    with pytest.raises(StoreError, match="no store at that path"):
        load_inputs(str(tmp_path / "nothing"), TuneRunConfig(store=str(tmp_path / "nothing")))
    made = tiny_store(tmp_path / "one", n=30, one_class=True)
    with pytest.raises(ConfigError, match="expected both classes"):
        load_inputs(made["store"], cfg_for(made["store"], feature_sets=("deep",)))
    made = tiny_store(tmp_path / "few", n=12)
    with pytest.raises(ConfigError, match="Lower --folds"):
        load_inputs(made["store"], cfg_for(made["store"], feature_sets=("deep",)).replace(folds=5))
    store = FeatureStore(str(tmp_path / "nolabel"))
    store.write_version("mytable", pd.DataFrame({"patient_id": ["a", "b"], "x": [1.0, 2.0]}))
    with pytest.raises(SchemaMismatchError, match="no table has a 'label' column"):
        load_inputs(store, cfg_for(store, feature_sets=("mytable",)))


def test_icc_without_second_reader_and_patient_mismatch(tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=30)
    store = made["store"]
    rad = store.read("radiomics").to_pandas()
    store.write_version("radiomics", rad[rad.reader == "A"])
    with pytest.raises(ConfigError, match="icc_threshold: null"):
        load_inputs(store, cfg_for(store, feature_sets=("radiomics",)))
    deep = store.read("deep").to_pandas()
    store.write_version("deep", deep[deep.patient_id != "P000"])
    with pytest.raises(SchemaMismatchError, match="--join inner"):
        load_inputs(store, cfg_for(store, feature_sets=("deep", "clinical")))
    with pytest.warns(UserWarning, match="dropped"):
        inputs = load_inputs(store, cfg_for(store, feature_sets=("deep", "clinical"), join="inner"))
    assert "P000" not in inputs.y.index and len(inputs.y) == 29


def test_columns_empty_for_every_patient_are_dropped_and_reported(tmp_path, tiny_store) -> None:
    made = tiny_store(tmp_path / "s", n=30)
    store = made["store"]
    rad = store.read("radiomics").to_pandas()
    # e.g. a 3-D shape feature on 2-D masks: no value for any modelled (reader A) row
    rad["original_shape_Elongation"] = [float("nan") if r == "A" else 1.0 for r in rad["reader"]]
    store.write_version("radiomics", rad)
    inputs = load_inputs(store, cfg_for(store, feature_sets=("radiomics",)))
    assert inputs.empty_columns == {"radiomics": ["T2WI__original_shape_Elongation",
                                                  "DWI__original_shape_Elongation"]}
    assert not inputs.sets["radiomics"].isna().all().any()
    # Empty only for the modelled patients: the unlabelled ones hold the values.
    rad = store.read("radiomics").to_pandas()
    rad["original_shape_Elongation"] = [1.0 if p in ("P000", "P001") else float("nan") for p in rad["patient_id"]]
    rad["label"] = [float("nan") if p in ("P000", "P001") else v for p, v in zip(rad["patient_id"], rad["label"])]
    store.write_version("radiomics", rad)
    inputs = load_inputs(store, cfg_for(store, feature_sets=("radiomics",)))
    assert inputs.n_unlabelled == 2 and len(inputs.empty_columns["radiomics"]) == 2
