"""Bundle round trip, and refusal of altered bundles before anything is deserialised."""

from __future__ import annotations

import io
import json
import pickle
import shutil

import joblib
import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import BundleIntegrityError, ConfigError
from alnm_ray.score.bundle import METADATA_FILE, load_bundle, write_bundle
from alnm_ray.score.checksums import CHECKSUM_FILE, write_checksums
from alnm_ray.score.drift import TrainingDistribution
from alnm_ray.score.serialize import load_model


def test_round_trip_predicts_identically(bundle_dir, train_data, fitted):
    X, y = train_data
    bundle = load_bundle(bundle_dir)
    np.testing.assert_array_equal(bundle.predict_proba(X), fitted.predict_proba(X)[:, 1])
    assert bundle.metadata["model"]["format"] == "skops"
    assert bundle.features == list(X.columns)
    assert set(bundle.selected_features) <= set(X.columns) and bundle.selected_features
    assert bundle.summary.feature_names_ == bundle.selected_features
    assert bundle.configs == {"radiomics": {"params": {"setting": {"binWidth": 25}}}}
    assert len(bundle.bundle_id) == 16
    assert {"scikit-learn", "numpy", "python"} <= set(bundle.metadata["library_versions"])
    listed = (bundle_dir / CHECKSUM_FILE).read_text(encoding="utf-8")
    for name in ("metadata.json", "model.skops", "training_summary.json", "config/radiomics.yaml"):
        assert f"  {name}\n" in listed


def test_flipped_byte_in_the_model_is_refused_naming_the_file(bundle_dir):
    path = bundle_dir / "model.skops"
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(BundleIntegrityError, match=r"altered \(checksum differs\): model\.skops.*Nothing was"):
        load_bundle(bundle_dir)


def test_a_valid_replacement_model_that_would_load_is_refused_before_loading(bundle_dir, train_data):
    X, y = train_data
    other = LogisticRegression(C=0.01).fit(X, 1 - y)  # a perfectly loadable, but different, model
    data = sio.dumps(other)
    assert load_model(data, "skops").predict_proba(X).shape == (len(X), 2)  # it would load
    (bundle_dir / "model.skops").write_bytes(data)
    with pytest.raises(BundleIntegrityError, match="model.skops"):
        load_bundle(bundle_dir)


class _Tripwire:
    """Unpickling this object writes a file: proof that pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_tampered_joblib_model_never_runs(tmp_path, train_data, metadata_factory):
    import re

    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.pattern_ = re.compile("T2WI")  # forces the joblib fallback
    meta = metadata_factory(X, y, model) | {"selected_features": list(X.columns)}
    with pytest.warns(UserWarning, match="joblib"):
        write_bundle(tmp_path / "b", model=model, metadata=meta, summary=TrainingDistribution().fit(X))
    assert (tmp_path / "b" / "model.joblib").is_file()
    trip = tmp_path / "pickle-ran"
    buf = io.BytesIO()
    joblib.dump(_Tripwire(str(trip)), buf)
    (tmp_path / "b" / "model.joblib").write_bytes(buf.getvalue())
    with pytest.raises(BundleIntegrityError, match=r"altered \(checksum differs\): model\.joblib"):
        load_bundle(tmp_path / "b")
    assert not trip.exists()
    pickle.loads(pickle.dumps(_Tripwire(str(trip))))  # the tripwire itself works
    assert trip.exists()


def test_edited_metadata_is_refused(bundle_dir):
    path = bundle_dir / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["threshold"] = 0.01
    path.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(BundleIntegrityError, match=r"altered \(checksum differs\): metadata\.json"):
        load_bundle(bundle_dir)


def test_removed_and_added_files_are_refused(bundle_dir):
    (bundle_dir / "training_summary.json").unlink()
    (bundle_dir / "notes.txt").write_text("hello", encoding="utf-8")
    with pytest.raises(BundleIntegrityError) as err:
        load_bundle(bundle_dir)
    assert "removed: training_summary.json" in str(err.value)
    assert "added (not in the checksum file): notes.txt" in str(err.value)


def test_rewriting_files_and_checksums_together_is_caught_by_the_bundle_id(bundle_dir):
    path = bundle_dir / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    meta["threshold"] = 0.01
    path.write_text(json.dumps(meta), encoding="utf-8")
    (bundle_dir / CHECKSUM_FILE).unlink()
    write_checksums(bundle_dir)
    with pytest.raises(BundleIntegrityError, match="expected bundle_id .* to match the bundle's content"):
        load_bundle(bundle_dir)


def test_metadata_must_satisfy_the_schema(tmp_path, train_data, fitted, metadata_factory):
    X, y = train_data
    meta = metadata_factory(X, y, fitted) | {"threshold": 1.5}
    with pytest.raises(BundleIntegrityError, match=r"threshold: 1\.5 is greater than the maximum of 1"):
        write_bundle(tmp_path / "b", model=fitted, metadata=meta, summary=TrainingDistribution().fit(X))


def test_existing_out_folder_needs_overwrite(tmp_path, bundle_dir, train_data, fitted, metadata_factory):
    X, y = train_data
    meta = metadata_factory(X, y, fitted)
    summary = TrainingDistribution().fit(X)
    with pytest.raises(ConfigError, match="a bundle is already there. Pass --overwrite"):
        write_bundle(bundle_dir, model=fitted, metadata=meta, summary=summary)
    write_bundle(bundle_dir, model=fitted, metadata=meta | {"threshold": 0.4}, summary=summary, overwrite=True)
    assert load_bundle(bundle_dir).threshold == 0.4
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "x").write_text("x", encoding="utf-8")
    with pytest.raises(ConfigError, match="not a bundle"):
        write_bundle(tmp_path / "other", model=fitted, metadata=meta, summary=summary, overwrite=True)
    assert not any(p.name.startswith(".bundle.tmp") for p in tmp_path.iterdir())
    shutil.rmtree(tmp_path / "other")


def test_deep_weights_must_match_the_bundles_checksum(tmp_path, bundle_dir):
    import dataclasses

    from alnm_ray.score.from_images import _deep

    bundle = load_bundle(bundle_dir)
    deep = {"params": {"embed": {"grid": [16, 16, 16]}, "weights_sha256": "ab" * 32,
                       "preprocess": {"name": "none", "default": {}, "sequences": {}}}}
    bundle = dataclasses.replace(bundle, configs={**bundle.configs, "deep": deep})
    with pytest.raises(ConfigError, match=r"--weights: the bundle's deep features used weights with SHA-256 abab"):
        _deep(bundle, None, None, {}, weights=None, quiet=True, debug=False)
    other = tmp_path / "other.pth"
    other.write_bytes(b"not the checkpoint")
    with pytest.raises(ConfigError, match=r"expected the checkpoint with SHA-256 abab.*found [0-9a-f]{64}"):
        _deep(bundle, None, None, {}, weights=str(other), quiet=True, debug=False)
    with pytest.raises(ConfigError, match="expected the 'radiomics' table's extraction settings"):
        from alnm_ray.score.from_images import _radiomics

        _radiomics(dataclasses.replace(bundle, configs={}), None, None, {}, quiet=True, debug=False)
