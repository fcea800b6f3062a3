"""`alnm-ray bundle show`: verify a bundle, print its model card."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore


def long_rows(rng: np.random.Generator, n: int, cohort: str = "train_c") -> pd.DataFrame:
    """Long radiomics rows of one sequence, reader A; the label shifts feature F0; 70 % split 'train'."""
    y = (np.arange(n) % 2).astype(int)
    rows = []
    for p in range(n):
        values = rng.normal(size=6)
        values[0] += 1.5 * y[p]
        rows.append({"cohort": cohort, "center": "c1", "patient_id": f"{cohort}-{p:03d}", "sequence": "T2WI",
                     "reader": "A", "label": int(y[p]), "split": "train" if p < int(0.7 * n) else "test",
                     **{f"original_firstorder_F{i}": float(v) for i, v in enumerate(values)}})
    return pd.DataFrame(rows)


SELECTION = {"preset": "guo2024", "icc_threshold": None, "lasso_repeats": 2, "lasso_folds": 3, "mrmr_k": 4}


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    root = tmp_path_factory.mktemp("show")
    store = FeatureStore(root / "store")
    store.write_version("radiomics", long_rows(np.random.default_rng(3), 40))
    train_bundle(store, TrainConfig("radiomics", "lr", selection=SELECTION), str(root / "b"))
    return root / "b"


def test_show_prints_the_verified_model_card(bundle_path):
    result = CliRunner().invoke(cli, ["bundle", "show", str(bundle_path)])
    assert result.exit_code == 0, result.output
    assert "signed by" in result.output and "# Model description" in result.output
    assert "# Known limitations" in result.output


def test_show_refuses_an_altered_card(bundle_path, tmp_path):
    copy = tmp_path / "b"
    shutil.copytree(bundle_path, copy)
    card = copy / "MODEL_CARD.md"
    card.write_text(card.read_text(encoding="utf-8").replace("Research use", "Clinical use"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["bundle", "show", str(copy)])
    assert result.exit_code != 0
    assert "MODEL_CARD.md" in result.output and "Clinical use" not in result.output


def test_show_refuses_an_untrusted_signer(bundle_path, tmp_path, monkeypatch):
    from alnm_ray.score.signing import TRUSTED_KEYS_ENVVAR, create_key_pair

    _, other = create_key_pair(tmp_path, "other")
    monkeypatch.setenv(TRUSTED_KEYS_ENVVAR, str(other))
    result = CliRunner().invoke(cli, ["bundle", "show", str(bundle_path)])
    assert result.exit_code != 0 and "# Model description" not in result.output
