"""Bundle round trip, and refusal of altered or pickle bundles before anything is deserialised."""

from __future__ import annotations

import io
import json
import pickle
import shutil

import numpy as np
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import BundleIntegrityError, ConfigError
from alnm_ray.score.bundle import METADATA_FILE, _content_id, load_bundle, write_bundle
from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE, sha256_bytes, write_checksums
from alnm_ray.score.drift import TrainingDistribution
from alnm_ray.score.serialize import load_model
from alnm_ray.score.signing import BundleSignatureError, TrustPolicy

#: What `--trust-unsigned` gives: the signature no longer protects; every later check must.
TRUST_UNSIGNED = TrustPolicy(allow_unsigned=True)


def forge(bundle, meta_changes=None, files=None, remove=()):
    """Rewrite files, the bundle id and the checksum file together, as an attacker with write access can."""
    path = bundle / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8")) | dict(meta_changes or {})
    for rel in remove:
        (bundle / rel).unlink()
    for rel, blob in (files or {}).items():
        (bundle / rel).write_bytes(blob)
    payload = {p.relative_to(bundle).as_posix(): sha256_bytes(p.read_bytes()) for p in bundle.rglob("*")
               if p.is_file() and p.name not in (METADATA_FILE, CHECKSUM_FILE, SIGNATURE_FILE)}
    meta["bundle_id"] = _content_id(meta, payload)
    path.write_text(json.dumps(meta), encoding="utf-8")
    (bundle / CHECKSUM_FILE).unlink()
    write_checksums(bundle)


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
    assert (bundle_dir / SIGNATURE_FILE).is_file() and SIGNATURE_FILE not in listed
    assert bundle.signature.verified


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


def test_a_forged_joblib_bundle_never_unpickles(bundle_dir):
    trip = bundle_dir.parent / "pickle-ran"
    forge(bundle_dir, {"model": {"file": "model.joblib", "format": "joblib", "trusted_types": []}},
          files={"model.joblib": pickle.dumps(_Tripwire(str(trip)))}, remove=["model.skops"])
    with pytest.raises(BundleSignatureError, match="signature mismatch"):
        load_bundle(bundle_dir)
    (bundle_dir / SIGNATURE_FILE).unlink()
    with pytest.raises(BundleSignatureError, match="unsigned bundle"):
        load_bundle(bundle_dir)
    with pytest.raises(BundleIntegrityError, match=r"model\.format: expected format 'skops'; found 'joblib', "
                                                   r"which unpickles.*alnm-ray never loads pickle"):
        load_bundle(bundle_dir, trust=TRUST_UNSIGNED)  # even when the user accepts an unsigned bundle
    assert not trip.exists()
    pickle.loads(pickle.dumps(_Tripwire(str(trip))))  # the tripwire itself works
    assert trip.exists()


def test_the_schema_allows_only_skops(bundle_dir, train_data, fitted, metadata_factory):
    from alnm_ray.score.bundle import validate_metadata

    meta = json.loads((bundle_dir / METADATA_FILE).read_text(encoding="utf-8"))
    validate_metadata(meta, source="m")
    for bad in ({"file": "model.joblib"}, {"format": "joblib"}, {"fallback_reason": "x"}):
        with pytest.raises(BundleIntegrityError, match="schemas/bundle.schema.json"):
            validate_metadata(meta | {"model": meta["model"] | bad}, source="m")


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


def test_rewriting_files_checksums_and_id_together_is_caught_by_the_signature(bundle_dir):
    forge(bundle_dir, {"threshold": 0.01})
    with pytest.raises(BundleSignatureError, match=r"signature mismatch: the bundle's files, checksums or id"):
        load_bundle(bundle_dir)


def test_without_a_signature_the_bundle_id_still_catches_files_rewritten_with_their_checksums(bundle_dir):
    path = bundle_dir / METADATA_FILE
    meta = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(meta | {"threshold": 0.01}), encoding="utf-8")
    (bundle_dir / CHECKSUM_FILE).unlink()
    write_checksums(bundle_dir)
    (bundle_dir / SIGNATURE_FILE).unlink()
    with pytest.warns(UserWarning, match="no signature"):
        with pytest.raises(BundleIntegrityError, match="expected bundle_id .* to match the bundle's content"):
            load_bundle(bundle_dir, trust=TRUST_UNSIGNED)


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
