"""Training a bundle from the feature store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.runs import load_run, train_settings
from alnm_ray.score.train import TrainConfig, train_bundle, used_inputs
from alnm_ray.store import FeatureStore, to_wide


@pytest.fixture
def store(tmp_path, rng, long_factory):
    store = FeatureStore(tmp_path / "store")
    store.write_version("radiomics", long_factory(rng, 60), params={"pyradiomics_params": {"setting": {}}})
    return store


def test_train_writes_a_bundle_that_reproduces_the_fitted_model(tmp_path, store, fast_selection):
    config = TrainConfig("radiomics", "lr", selection=fast_selection, seed=3)
    result = train_bundle(store, config, str(tmp_path / "b"))
    bundle = load_bundle(tmp_path / "b")
    meta = bundle.metadata
    latest = store.latest("radiomics")
    assert meta["feature_tables"] == {"radiomics": latest.version}
    assert result.n_patients == meta["training"]["n_patients"] == 42  # the 70 % with split == "train"
    assert result.model_format == "skops" and meta["model"]["format"] == "skops"
    assert {"alnm_ray.select.icc.ICCFilter", "alnm_ray.score.pandas_state.PandasState"} <= set(meta["model"]["trusted_types"])
    assert 0.0 <= bundle.threshold <= 1.0 and meta["threshold_method"] == "youden on training predictions"
    assert meta["selection"]["config"]["lasso_repeats"] == 2 and meta["seeds"]["selection"] == 3
    assert bundle.configs["radiomics"]["params"] == {"pyradiomics_params": {"setting": {}}}
    assert set(bundle.selected_features) <= set(bundle.features)
    assert bundle.summary.feature_names_ == bundle.selected_features
    # no training rows travel inside the model (the ICC step's reader table is dropped)
    assert bundle.model.selection.named_steps["icc"].reader_table is None
    wide = to_wide(store.read("radiomics").to_pandas())
    train_ids = wide.index[wide["split"] == "train"]
    p = bundle.predict_proba(wide.loc[train_ids])
    assert p.shape == (42,) and np.all((p >= 0) & (p <= 1))
    assert result.train_auc > 0.7  # the synthetic signal is strong
    # the feature dictionary of the model's inputs travels with it, checksummed and signed
    dictionary = pd.read_csv(tmp_path / "b" / "feature_dictionary.csv")
    assert meta["files"]["feature_dictionary"] == "feature_dictionary.csv"
    assert list(dictionary["wide_column"]) == bundle.features
    assert "feature_dictionary.csv" in (tmp_path / "b" / "CHECKSUMS.sha256").read_text(encoding="utf-8")


def test_run_folder_supplies_seed_selection_and_table_versions(tmp_path, store, rng, long_factory,
                                                               fast_selection):
    first = store.latest("radiomics").version
    store.write_version("radiomics", long_factory(rng, 50, cohort="other"))
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({
        "store": str(store.uri), "selection": fast_selection, "seed": 11, "tables": {"radiomics": first},
        "feature_sets": ["radiomics", "deep"], "classifiers": {"lr": {"C": 0.5}, "svm": {}}}), encoding="utf-8")
    settings = train_settings(load_run(run), "radiomics", "lr")
    assert settings["classifier_params"] == {"C": 0.5} and settings["tables"] == {"radiomics": first}
    train_bundle(store, TrainConfig("radiomics", "lr", run=str(run), **settings), str(tmp_path / "b"))
    meta = load_bundle(tmp_path / "b").metadata
    assert meta["feature_tables"]["radiomics"] == first and meta["seeds"]["selection"] == 11
    assert meta["classifier_params"] == {"C": 0.5} and meta["run"] == str(run)
    with pytest.raises(ConfigError, match="not in the run's feature_sets.*Did you mean 'radiomics'"):
        train_settings(load_run(run), "radiomic", "lr")
    with pytest.raises(ConfigError, match="expected a run folder holding run.json or config.yaml"):
        load_run(tmp_path)


def test_features_missing_for_every_training_patient_are_excluded(tmp_path, store, rng, long_factory,
                                                                  fast_selection):
    long = long_factory(rng, 60)
    long.loc[long["sequence"] == "ADC", "original_firstorder_F7"] = np.nan  # "does not apply" to ADC
    store.write_version("radiomics", long)
    train_bundle(store, TrainConfig("radiomics", "nb", selection=fast_selection), str(tmp_path / "b"))
    meta = load_bundle(tmp_path / "b").metadata
    assert meta["excluded_features"] == ["ADC__original_firstorder_F7"]
    assert "ADC__original_firstorder_F7" not in meta["features"]


def test_bad_training_selections_are_clear_errors(tmp_path, store):
    with pytest.raises(SchemaMismatchError, match="expected labelled patients with split='nope'; found none"):
        train_bundle(store, TrainConfig("radiomics", "lr", split="nope"), str(tmp_path / "b"))
    with pytest.raises(ConfigError, match="Did you mean 'lr'"):
        TrainConfig("radiomics", "LR ")
    with pytest.raises(ConfigError, match="post-fusion set"):
        TrainConfig("post:clinical+radiomics", "lr")
    with pytest.raises(ConfigError, match=r"threshold: expected a value in \[0.0, 1.0\]"):
        TrainConfig("radiomics", "lr", threshold="1.5")
    with pytest.raises(Exception, match="deep"):
        train_bundle(store, TrainConfig("deep", "lr"), str(tmp_path / "b"))


def test_training_is_signed_and_refuses_to_start_without_a_key(tmp_path, store, fast_selection, bundle_keys,
                                                               monkeypatch):
    from alnm_ray.score.checksums import SIGNATURE_FILE
    from alnm_ray.score.signing import SIGNING_KEY_ENVVAR, BundleSignatureError, TrustPolicy, load_public_keys

    config = TrainConfig("radiomics", "lr", selection=fast_selection)
    result = train_bundle(store, config, str(tmp_path / "signed"))
    assert result.signer == load_public_keys(bundle_keys[1])[0].fingerprint
    assert load_bundle(tmp_path / "signed").signature.signer == result.signer
    monkeypatch.delenv(SIGNING_KEY_ENVVAR)
    with pytest.raises(ConfigError, match="--signing-key: expected a private key.*`alnm-ray keys create`"):
        train_bundle(store, TrainConfig("radiomics", "lr", split="nope"), str(tmp_path / "b"))  # before any fit
    assert not (tmp_path / "b").exists()
    result = train_bundle(store, config, str(tmp_path / "unsigned"), unsigned=True)
    assert result.signer is None and not (tmp_path / "unsigned" / SIGNATURE_FILE).exists()
    with pytest.raises(BundleSignatureError, match="unsigned bundle"):
        load_bundle(tmp_path / "unsigned")
    with pytest.warns(UserWarning, match="no signature"):
        assert load_bundle(tmp_path / "unsigned", trust=TrustPolicy(allow_unsigned=True)).threshold == result.threshold
    train_bundle(store, config, str(tmp_path / "explicit"), signing_key=bundle_keys[0])
    assert load_bundle(tmp_path / "explicit").signature.verified


def test_labels_may_come_from_the_clinical_table_and_cohorts_restrict_it(tmp_path, rng, long_factory,
                                                                         fast_selection):
    store = FeatureStore(tmp_path / "store")
    long = pd.concat([long_factory(rng, 60, labels=False), long_factory(rng, 20, cohort="other", labels=False)],
                     ignore_index=True)
    store.write_version("radiomics", long)
    y = (long_factory(np.random.default_rng(1), 60)  # labels of the train_c patients, in the clinical table
         .drop_duplicates("patient_id").set_index("patient_id")["label"])
    store.write_version("clinical", pd.DataFrame({"patient_id": y.index, "label": y.to_numpy(),
                                                  "age": np.linspace(30.0, 80.0, len(y))}))
    config = TrainConfig("clinical+radiomics", "nb", selection=fast_selection, cohorts=("train_c",))
    result = train_bundle(store, config, str(tmp_path / "b"), unsigned=True)
    meta = json.loads((tmp_path / "b" / "metadata.json").read_text(encoding="utf-8"))
    # the training split of train_c, labelled by the clinical table; the other cohort's rows are left out
    assert result.n_patients == 42 and result.n_positive == int(y.iloc[:42].sum())
    assert meta["training"]["cohorts"] == ["train_c"] and set(meta["feature_tables"]) == {"clinical", "radiomics"}
    assert "age" in meta["features"]
    with pytest.raises(ConfigError, match=r"--cohort: table radiomics@\w+ has no rows of cohort\(s\) \['nope'\]"):
        train_bundle(store, TrainConfig("radiomics", "nb", cohorts=("nope",)), str(tmp_path / "d"), unsigned=True)


def test_used_inputs_map_encoded_columns_back():
    class Pipe:
        steps = [("encode", None), ("zscore", None)]

    used, imputed = used_inputs(Pipe(), ["age", "grade", "T2WI__f"], ["age", "grade=3"])
    assert used == ["age", "grade"] and imputed == ["age", "grade", "T2WI__f"]
    Pipe.steps = [("zscore", None)]
    assert used_inputs(Pipe(), ["a", "b"], ["b"]) == (["b"], [])
