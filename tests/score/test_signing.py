"""Ed25519 bundle signatures: keys, signing, and the trust policy (real keys, real bundles)."""

from __future__ import annotations

import base64
import json
import os
import stat

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.score.bundle import check_signature, load_bundle, read_bundle_files, write_bundle
from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE
from alnm_ray.score.drift import TrainingDistribution
from alnm_ray.score.signing import (DOMAIN, SIGNING_KEY_ENVVAR, TRUSTED_KEYS_ENVVAR, BundleSignatureError,
                                    TrustPolicy, UnsignedBundleWarning, create_key_pair, load_public_keys,
                                    load_signing_key, resolve_signing_key, sign_checksums,
                                    verify_bundle_signature)


@pytest.fixture
def other_keys(tmp_path):
    """A second key pair nobody trusts."""
    return create_key_pair(tmp_path / "other", "intruder")


def _write(out, train_data, fitted, metadata_factory, **kwargs):
    X, y = train_data
    meta = metadata_factory(X, y, fitted)
    return write_bundle(out, model=fitted, metadata=meta, summary=TrainingDistribution().fit(X), **kwargs)


def test_create_key_pair_writes_a_private_key_only_the_owner_can_read(tmp_path):
    private, public = create_key_pair(tmp_path / "k", "site-a")
    assert (private.name, public.name) == ("site-a.key", "site-a.pub")
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert b"PRIVATE KEY" in private.read_bytes() and b"PUBLIC KEY" in public.read_bytes()
    key = load_signing_key(private)
    [pub] = load_public_keys(public)
    assert pub.verify(key.sign(b"x"), b"x") and not pub.verify(key.sign(b"x"), b"y")
    with pytest.raises(ConfigError, match="already exist.*a key is never overwritten"):
        create_key_pair(tmp_path / "k", "site-a")
    with pytest.raises(ConfigError, match=r"--name '\.\./x': expected a plain file stem"):
        create_key_pair(tmp_path / "k", "../x")


def test_key_files_are_checked_with_clear_messages(tmp_path, bundle_keys):
    private, public = bundle_keys
    with pytest.raises(ConfigError, match="expected an unencrypted PEM private key.*not the .pub file"):
        load_signing_key(public)
    with pytest.raises(ConfigError, match="expected a PEM public key.*never the private .key file"):
        load_public_keys(private)
    with pytest.raises(ConfigError, match="found no such file"):
        load_signing_key(tmp_path / "nope.key")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"expected a folder of \*\.pub files; found none"):
        load_public_keys(tmp_path / "empty")
    assert [k.fingerprint for k in load_public_keys(public.parent)] == [load_public_keys(public)[0].fingerprint]


def test_no_signing_key_is_refused_naming_keys_create_unless_unsigned(monkeypatch, bundle_keys):
    monkeypatch.delenv(SIGNING_KEY_ENVVAR)
    with pytest.raises(ConfigError, match=r"--signing-key: expected a private key.*got none\. Make a key pair "
                                          r"once with `alnm-ray keys create`.*or pass --unsigned"):
        resolve_signing_key(None)
    assert resolve_signing_key(None, unsigned=True) is None
    with pytest.raises(ConfigError, match="got both"):
        resolve_signing_key(bundle_keys[0], unsigned=True)
    monkeypatch.setenv(SIGNING_KEY_ENVVAR, str(bundle_keys[0]))
    assert resolve_signing_key(None) is not None
    assert resolve_signing_key(None, unsigned=True) is None  # an explicit --unsigned wins over the env


def test_a_signed_bundle_loads_and_records_its_signer(bundle_dir, bundle_keys):
    signature = json.loads((bundle_dir / SIGNATURE_FILE).read_text(encoding="utf-8"))
    [pub] = load_public_keys(bundle_keys[1])
    assert signature["algorithm"] == "ed25519" and signature["signer"]["fingerprint"] == pub.fingerprint
    assert pub.verify(base64.b64decode(signature["signature"]), DOMAIN + (bundle_dir / CHECKSUM_FILE).read_bytes())
    bundle = load_bundle(bundle_dir)
    assert bundle.signature.verified and bundle.signature.signer == pub.fingerprint
    assert bundle.signature.key_source == str(bundle_keys[1])


def test_the_trust_list_comes_from_the_environment_or_arguments(bundle_dir, bundle_keys, monkeypatch, tmp_path):
    monkeypatch.delenv(TRUSTED_KEYS_ENVVAR)
    with pytest.raises(BundleSignatureError, match=r"expected a signature by a trusted key \(none configured"):
        load_bundle(bundle_dir)
    assert load_bundle(bundle_dir, trust=TrustPolicy.from_paths([bundle_keys[1]])).signature.verified
    monkeypatch.setenv(TRUSTED_KEYS_ENVVAR, os.pathsep.join([str(tmp_path / "missing.pub"), str(bundle_keys[1])]))
    with pytest.raises(ConfigError, match=r"missing\.pub: expected a \.pub file or a folder of them"):
        TrustPolicy.from_env()
    monkeypatch.setenv(TRUSTED_KEYS_ENVVAR, os.pathsep.join(["", str(bundle_keys[1].parent)]))
    assert load_bundle(bundle_dir).signature.verified  # a folder of .pub files


def test_unsigned_bundles_are_refused_unless_trust_unsigned(tmp_path, train_data, fitted, metadata_factory,
                                                             caplog):
    _write(tmp_path / "b", train_data, fitted, metadata_factory, unsigned=True)
    assert not (tmp_path / "b" / SIGNATURE_FILE).exists()
    with pytest.raises(BundleSignatureError, match=r"expected a SIGNATURE\.json signed by a trusted key; found "
                                                   r"none \(unsigned bundle\)\. Nothing else was read\. .*"
                                                   "--trust-unsigned"):
        load_bundle(tmp_path / "b")
    with pytest.warns(UnsignedBundleWarning, match="has no signature; loading it anyway"):
        bundle = load_bundle(tmp_path / "b", trust=TrustPolicy.from_paths(allow_unsigned=True))
    assert bundle.signature.status == "unsigned" and bundle.signature.to_dict()["trust_unsigned_used"]
    assert any(r.levelname == "WARNING" and "NOT verified" in r.getMessage() for r in caplog.records)


def test_a_foreign_signer_is_refused_as_unknown(tmp_path, train_data, fitted, metadata_factory, other_keys):
    _write(tmp_path / "b", train_data, fitted, metadata_factory, signing_key=other_keys[0])
    [pub] = load_public_keys(other_keys[1])
    with pytest.raises(BundleSignatureError, match=rf"found a valid signature by unknown signer {pub.fingerprint}"
                                                   r"\. Nothing else was read\. If you trust this author, pass "
                                                   "--trust"):
        check_signature(tmp_path / "b")
    assert load_bundle(tmp_path / "b", trust=TrustPolicy.from_paths([other_keys[1]])).signature.verified
    with pytest.warns(UnsignedBundleWarning, match="which is not trusted"):
        bundle = load_bundle(tmp_path / "b", trust=TrustPolicy.from_paths(allow_unsigned=True))
    assert bundle.signature.status == "unknown-signer"


def test_a_signature_that_does_not_match_is_refused_even_with_trust_unsigned(bundle_dir):
    listing = bundle_dir / CHECKSUM_FILE
    listing.write_bytes(listing.read_bytes() + b"\n")  # one byte more: same checksums, other bytes
    for policy in (None, TrustPolicy.from_paths(allow_unsigned=True)):
        with pytest.raises(BundleSignatureError, match=r"expected the signature of key [0-9a-f]{16} to match "
                                                       r"CHECKSUMS\.sha256; it does not \(signature mismatch"):
            load_bundle(bundle_dir, trust=policy)


@pytest.mark.parametrize("edit", ["not json", "algorithm", "fingerprint", "short signature", "huge"])
def test_malformed_signature_files_are_refused(bundle_dir, edit):
    path = bundle_dir / SIGNATURE_FILE
    doc = json.loads(path.read_text(encoding="utf-8"))
    if edit == "not json":
        data = b"{nope"
    elif edit == "algorithm":
        data = json.dumps(doc | {"algorithm": "rsa"}).encode()
    elif edit == "fingerprint":
        data = json.dumps(doc | {"signer": doc["signer"] | {"fingerprint": "0" * 64}}).encode()
    elif edit == "short signature":
        data = json.dumps(doc | {"signature": base64.b64encode(b"x" * 10).decode()}).encode()
    else:
        data = b" " * 20000 + json.dumps(doc).encode()
    path.write_bytes(data)
    with pytest.raises(BundleSignatureError, match=r"SIGNATURE\.json: expected a signature file written by "
                                                   r"`alnm-ray train`.*Nothing else was read"):
        load_bundle(bundle_dir, trust=TrustPolicy.from_env())


def test_the_signature_is_checked_before_any_other_file_is_read(tmp_path, train_data, fitted, metadata_factory,
                                                                 other_keys, monkeypatch):
    import pathlib

    _write(tmp_path / "b", train_data, fitted, metadata_factory, signing_key=other_keys[0])
    opened: list[str] = []
    real = pathlib.Path.read_bytes

    def spy(self):  # records every bundle file read, then reads it for real
        if (tmp_path / "b") in self.parents:
            opened.append(self.name)
        return real(self)

    monkeypatch.setattr(pathlib.Path, "read_bytes", spy)
    with pytest.raises(BundleSignatureError, match="unknown signer"):
        read_bundle_files(tmp_path / "b")
    assert sorted(opened) == [CHECKSUM_FILE, SIGNATURE_FILE]
    opened.clear()
    read_bundle_files(tmp_path / "b", trust=TrustPolicy.from_paths([other_keys[1]]))
    assert opened[:2] == [CHECKSUM_FILE, SIGNATURE_FILE] and "model.skops" in opened


def test_the_trust_policy_travels_with_the_bundle_bytes(bundle_dir, bundle_keys):
    import pickle

    from alnm_ray.score.bundle import load_bundle_files

    files = pickle.loads(pickle.dumps(read_bundle_files(bundle_dir)))  # as Ray ships it to an actor
    assert [k.source for k in files.trust.keys] == [str(bundle_keys[1])]
    assert load_bundle_files(files).signature.verified
    import dataclasses

    with pytest.raises(BundleSignatureError, match="unknown signer"):
        load_bundle_files(dataclasses.replace(files, trust=TrustPolicy()))  # an actor re-checks


def test_sign_checksums_is_deterministic_for_the_same_bytes(bundle_keys):
    key = load_signing_key(bundle_keys[0])
    assert sign_checksums(b"abc", key) == sign_checksums(b"abc", key)
    policy = TrustPolicy.from_paths([bundle_keys[1]], env=False)
    assert verify_bundle_signature("x", b"abc", sign_checksums(b"abc", key), policy).verified
