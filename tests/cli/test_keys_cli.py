"""`alnm-ray keys` and the signing options of `alnm-ray train` / `alnm-ray score` (no Ray needed)."""

from __future__ import annotations

import os
import stat

import numpy as np
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.score.signing import SIGNING_KEY_ENVVAR, load_public_keys
from alnm_ray.store import FeatureStore


def _run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


def test_keys_create_then_fingerprint(tmp_path):
    result = _run("keys", "create", "--out", str(tmp_path / "k"), "--name", "site-a")
    assert result.exit_code == 0, result.output
    private, public = tmp_path / "k" / "site-a.key", tmp_path / "k" / "site-a.pub"
    fp = load_public_keys(public)[0].fingerprint
    assert f"fingerprint: {fp}" in result.output and str(private) in result.output
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    result = _run("keys", "fingerprint", str(tmp_path / "k"))
    assert result.exit_code == 0 and result.output == f"{fp}  {public}\n"
    again = _run("keys", "create", "--out", str(tmp_path / "k"), "--name", "site-a")
    assert again.exit_code == 2 and "a key is never overwritten" in again.output
    assert "keys" in _run("--help").output


def _store(root, n=30):
    rng = np.random.default_rng(4)
    rows = []
    for p in range(n):
        y = p % 2
        for seq in ("T2WI", "ADC"):
            v = rng.normal(size=6)
            v[0] += 1.5 * y
            rows.append({"cohort": "c", "center": "C1", "patient_id": f"p{p:02d}", "sequence": seq, "reader": "A",
                         "label": y, **{f"original_firstorder_F{i}": float(v[i]) for i in range(6)}})
    import pandas as pd

    FeatureStore(root / "store").write_version("radiomics", pd.DataFrame(rows))
    (root / "sel.yaml").write_text("preset: guo2024\nicc_threshold: null\nlasso_repeats: 2\nlasso_folds: 3\n"
                                   "mrmr_k: 4\n", encoding="utf-8")
    return ["train", "--store", str(root / "store"), "--feature-set", "radiomics", "--classifier", "lr",
            "--selection", str(root / "sel.yaml"), "--split", ""]


def test_train_without_a_key_refuses_and_names_keys_create(tmp_path, monkeypatch, bundle_keys):
    args = _store(tmp_path)
    monkeypatch.delenv(SIGNING_KEY_ENVVAR)
    result = _run(*args, "--out", str(tmp_path / "b"))
    assert result.exit_code == 2, result.output
    assert ("--signing-key: expected a private key to sign the bundle with (--signing-key PATH or "
            "$ALNM_RAY_SIGNING_KEY); got none. Make a key pair once with `alnm-ray keys create`") in result.output
    assert not (tmp_path / "b").exists()
    both = _run(*args, "--out", str(tmp_path / "b"), "--unsigned", "--signing-key", str(bundle_keys[0]))
    assert both.exit_code == 2 and "got both" in both.output
    result = _run(*args, "--out", str(tmp_path / "u"), "--unsigned")
    assert result.exit_code == 0 and "UNSIGNED (--unsigned)" in result.output
    result = _run(*args, "--out", str(tmp_path / "s"), "--signing-key", str(bundle_keys[0]))
    fp = load_public_keys(bundle_keys[1])[0].fingerprint
    assert result.exit_code == 0 and f"signed by {fp[:16]}" in result.output
    refused = _run("score", str(tmp_path / "u"), "--features", "radiomics", "--store", str(tmp_path / "store"))
    assert refused.exit_code == 2 and "found none (unsigned bundle)" in refused.output
