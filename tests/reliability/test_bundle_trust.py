"""Attacks on model bundles through `alnm-ray score`: forged, tampered, foreign-signed, unsigned.

Each attacker can write the bundle folder, so can rewrite any file, recompute
``CHECKSUMS.sha256`` and the bundle id (an unkeyed hash); what they cannot do
is sign with a key the scoring site trusts.  Every refusal is exit 2 with a
four-part message and happens before any other file of the bundle is read;
a pickle payload never runs.  Real CLI, real store, real Ray for the runs
that score.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.score.bundle import METADATA_FILE, _content_id
from alnm_ray.score.checksums import CHECKSUM_FILE, SIGNATURE_FILE, sha256_bytes, write_checksums
from alnm_ray.score.signing import create_key_pair, load_public_keys, load_signing_key, sign_checksums
from alnm_ray.store import FeatureStore

from .conftest import FAST_SELECTION, long_features

pytestmark = [pytest.mark.slow]


class _ShellPayload:
    """Unpickling this runs a shell command that writes a marker file (what the attacker's bundle did)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _run(*args: str):
    return CliRunner().invoke(cli, ["--quiet", *args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A store and a signed bundle trained from it by the CLI (signing key from $ALNM_RAY_SIGNING_KEY)."""
    root = tmp_path_factory.mktemp("trust")
    FeatureStore(root / "store").write_version("radiomics", long_features(np.random.default_rng(3),
                                                                          [0, 1, 1, 0, 1] * 6))
    (root / "selection.yaml").write_text(FAST_SELECTION, encoding="utf-8")
    result = _run("train", "--store", str(root / "store"), "--feature-set", "radiomics", "--classifier", "lr",
                  "--selection", str(root / "selection.yaml"), "--split", "", "--out", str(root / "bundle"))
    assert result.exit_code == 0, result.output
    assert "signed by " in result.output
    return root


@pytest.fixture
def bundle(tmp_path, trained) -> Path:
    shutil.copytree(trained / "bundle", tmp_path / "bundle")
    return tmp_path / "bundle"


def _score(bundle: Path, trained: Path, out: Path, *extra: str):
    return _run("score", str(bundle), "--features", "radiomics", "--store", str(trained / "store"), "--out",
                str(out), "--no-store-write", "--n-boot", "100", *extra)


def _forge(bundle: Path, meta_changes=None, files=None, remove=()) -> None:
    """Rewrite files, recompute the bundle id and the checksum file: all an attacker with write access can do."""
    meta = json.loads((bundle / METADATA_FILE).read_text(encoding="utf-8")) | dict(meta_changes or {})
    for rel in remove:
        (bundle / rel).unlink()
    for rel, blob in (files or {}).items():
        (bundle / rel).write_bytes(blob)
    payload = {p.relative_to(bundle).as_posix(): sha256_bytes(p.read_bytes()) for p in bundle.rglob("*")
               if p.is_file() and p.name not in (METADATA_FILE, CHECKSUM_FILE, SIGNATURE_FILE)}
    meta["bundle_id"] = _content_id(meta, payload)
    (bundle / METADATA_FILE).write_text(json.dumps(meta), encoding="utf-8")
    (bundle / CHECKSUM_FILE).unlink()
    write_checksums(bundle)


def _refused(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    for part in parts:
        assert part in result.output, result.output


def test_a_forged_joblib_bundle_never_runs_its_payload(tmp_path, bundle, trained):
    import joblib
    import io

    marker = tmp_path / "PWNED"
    buf = io.BytesIO()
    joblib.dump(_ShellPayload(marker), buf)
    _forge(bundle, {"model": {"file": "model.joblib", "format": "joblib", "trusted_types": []}},
           files={"model.joblib": buf.getvalue()}, remove=["model.skops"])
    out = tmp_path / "p.parquet"
    # 1. the original signature no longer matches the forged checksum file
    _refused(_score(bundle, trained, out), f"{bundle}/{SIGNATURE_FILE}: expected the signature of key",
             "to match CHECKSUMS.sha256; it does not (signature mismatch", "Nothing else was read",
             "get the original bundle from its author")
    # 2. without it, the bundle is unsigned
    (bundle / SIGNATURE_FILE).unlink()
    _refused(_score(bundle, trained, out), f"bundle {bundle}: expected a SIGNATURE.json signed by a trusted key; "
             "found none (unsigned bundle)", "`alnm-ray train --signing-key`", "--trust-unsigned")
    # 3. signed with the attacker's own key: an unknown signer
    private, _ = create_key_pair(tmp_path / "attacker", "attacker")
    (bundle / SIGNATURE_FILE).write_bytes(sign_checksums((bundle / CHECKSUM_FILE).read_bytes(),
                                                         load_signing_key(private)))
    _refused(_score(bundle, trained, out), "expected a signature by a trusted key", "found a valid signature by "
             "unknown signer", "If you trust this author, pass --trust")
    # 4. even a user who accepts an unverified bundle never gets pickle
    result = _score(bundle, trained, out, "--trust-unsigned")
    _refused(result, "model.format: expected format 'skops'; found 'joblib', which unpickles and can run any code",
             "Nothing was deserialised", "Re-train the bundle with `alnm-ray train`")
    assert not marker.exists() and not out.exists()
    pickle.loads(pickle.dumps(_ShellPayload(marker)))  # the payload itself works
    assert marker.exists()


def _flip(bundle: Path) -> None:
    """Negate the logistic model's coefficients and intercept (every prediction flips), then re-forge."""
    import skops.io as sio

    from alnm_ray.score import pandas_state

    data = (bundle / "model.skops").read_bytes()
    model = pandas_state.decode(sio.loads(data, trusted=sio.get_untrusted_types(data=data)))
    model.classifier.coef_ = -model.classifier.coef_
    model.classifier.intercept_ = -model.classifier.intercept_
    _forge(bundle, files={"model.skops": sio.dumps(pandas_state.encode(model))})


def test_flipped_coefficients_with_reforged_checksums_and_id_are_refused(tmp_path, bundle, trained):
    before = json.loads((bundle / METADATA_FILE).read_text(encoding="utf-8"))["bundle_id"]
    _flip(bundle)
    assert json.loads((bundle / METADATA_FILE).read_text(encoding="utf-8"))["bundle_id"] != before
    out = tmp_path / "p.parquet"
    _refused(_score(bundle, trained, out), "signature mismatch: the bundle's files, checksums or id were changed "
             "after it was signed", "Do not use this folder")
    assert not out.exists()


def test_a_bundle_signed_by_a_foreign_key_is_refused_as_unknown_signer(tmp_path, bundle, trained):
    private, public = create_key_pair(tmp_path / "foreign", "other-site")
    (bundle / SIGNATURE_FILE).write_bytes(sign_checksums((bundle / CHECKSUM_FILE).read_bytes(),
                                                         load_signing_key(private)))
    fp = load_public_keys(public)[0].fingerprint
    _refused(_score(bundle, trained, tmp_path / "p.parquet"),
             f"found a valid signature by unknown signer {fp}", "Nothing else was read",
             "`alnm-ray keys fingerprint`")


@pytest.fixture(scope="module")
def scored(trained, ray_local):
    """The happy path: the untouched bundle, scored once (real Ray)."""
    out = trained / "happy.parquet"
    result = _score(trained / "bundle", trained, out)
    return result, out


def test_the_happy_path_scores_and_records_the_signer(trained, scored, bundle_keys):
    result, out = scored
    assert result.exit_code == 0, result.output
    fp = load_public_keys(bundle_keys[1])[0].fingerprint
    assert f"signed by {fp[:16]} (trusted key {bundle_keys[1]})" in result.output
    record = json.loads((trained / "happy.bundle-trust.json").read_text(encoding="utf-8"))
    assert record["verified"] is True and record["signer"] == fp and record["trust_unsigned_used"] is False
    assert len(pd.read_parquet(out)) == 30


def test_trust_unsigned_scores_with_a_loud_warning_and_records_it(tmp_path, bundle, trained, scored, caplog):
    _flip(bundle)  # the attacker's flipped model, with its signature removed
    (bundle / SIGNATURE_FILE).unlink()
    out = tmp_path / "p.parquet"
    result = _score(bundle, trained, out, "--trust-unsigned")
    assert result.exit_code == 0, result.output
    assert "is NOT VERIFIED (unsigned); scored because of --trust-unsigned" in result.output
    assert any(r.levelname == "WARNING" and "has no signature; loading it anyway because --trust-unsigned"
               in r.getMessage() for r in caplog.records)
    record = json.loads((tmp_path / "p.bundle-trust.json").read_text(encoding="utf-8"))
    assert record["status"] == "unsigned" and record["trust_unsigned_used"] is True and record["signer"] is None
    # what --trust-unsigned let through: every probability flipped (the attack the signature stops)
    happy = pd.read_parquet(scored[1]).set_index("patient_id")["probability"]
    flipped = pd.read_parquet(out).set_index("patient_id")["probability"]
    np.testing.assert_allclose(flipped.loc[happy.index].to_numpy(), 1.0 - happy.to_numpy(), atol=1e-9)


def test_a_link_or_special_file_inside_a_signed_bundle_is_refused(tmp_path, bundle, trained):
    # A link out of the folder to a file with the very bytes that were signed: checksums and signature
    # still match, but `alnm-ray train` never writes links, so the folder was changed: refused unread.
    outside = tmp_path / "card.md"
    shutil.copy(bundle / "MODEL_CARD.md", outside)
    (bundle / "MODEL_CARD.md").unlink()
    (bundle / "MODEL_CARD.md").symlink_to(outside)
    out = tmp_path / "p.parquet"
    _refused(_score(bundle, trained, out), f"bundle {bundle}: expected regular files only",
             f"found MODEL_CARD.md: a symbolic link to '{outside}'", "Nothing was deserialised")
    (bundle / "MODEL_CARD.md").unlink()
    shutil.copy(outside, bundle / "MODEL_CARD.md")
    os.mkfifo(bundle / "extra.bin")  # reading it would wait forever for a writer
    _refused(_score(bundle, trained, out), "found extra.bin: a FIFO (named pipe)")
    assert not out.exists()
