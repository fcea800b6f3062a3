"""`alnm-ray explain` and `alnm-ray score --explain K` on a trained bundle."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore

SELECTION = "preset: guo2024\nicc_threshold: null\nlasso_repeats: 2\nlasso_folds: 3\nmrmr_k: 4\n"


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


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("explain_cli")
    store = FeatureStore(root / "store")
    store.write_version("radiomics", long_rows(np.random.default_rng(4), 50))
    (root / "sel.yaml").write_text(SELECTION, encoding="utf-8")
    result = CliRunner().invoke(cli, ["--quiet", "train", "--store", str(root / "store"), "--feature-set",
                                      "radiomics", "--classifier", "lr", "--selection", str(root / "sel.yaml"),
                                      "--out", str(root / "b"), "--explain-background", "20"])
    assert result.exit_code == 0, result.output
    return root


def test_explain_writes_contributions_and_a_self_contained_report(trained, tmp_path):
    out = tmp_path / "x"
    result = CliRunner().invoke(cli, ["--quiet", "explain", str(trained / "b"), "--features", "radiomics",
                                      "--store", str(trained / "store"), "--out", str(out),
                                      "--patient", "train_c-003", "--patient", "train_c-040"])
    assert result.exit_code == 0, result.output
    assert "50 patient(s) explained (linear explainer, log-odds)" in result.output
    frame = pd.read_parquet(out / "contributions.parquet")
    assert len(frame) == 50 and set(frame["patient_id"]) == {f"train_c-{i:03d}" for i in range(50)}
    feats = [c for c in frame.columns if "__" in c]
    assert feats and np.allclose(frame["base_value"] + frame[feats].sum(axis=1), frame["output"], atol=1e-6)
    html = (out / "explain.html").read_text(encoding="utf-8")
    assert "Waterfall: train_c/train_c-003" in html and "Waterfall: train_c/train_c-040" in html
    assert "Permutation importance" in html and "auc_drop_mean" in html
    assert html.count("data:image/png;base64,") == 4  # bar, beeswarm, two waterfalls, all embedded
    assert not re.search(r'(src|href)="(https?:)?//', html)


def test_explain_names_an_unknown_patient(trained, tmp_path):
    result = CliRunner().invoke(cli, ["--quiet", "explain", str(trained / "b"), "--features", "radiomics",
                                      "--store", str(trained / "store"), "--out", str(tmp_path / "x"),
                                      "--patient", "nobody"])
    assert result.exit_code != 0
    assert "--patient: expected patients of the explained rows; nobody not found among 50" in result.output


def test_explain_refuses_an_untrusted_bundle_before_reading_it(trained, tmp_path, monkeypatch):
    from alnm_ray.score.signing import TRUSTED_KEYS_ENVVAR, create_key_pair

    _, other = create_key_pair(tmp_path, "other")
    monkeypatch.setenv(TRUSTED_KEYS_ENVVAR, str(other))
    result = CliRunner().invoke(cli, ["--quiet", "explain", str(trained / "b"), "--features", "radiomics",
                                      "--store", str(trained / "store"), "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and not (tmp_path / "x").exists()


def test_explain_needs_exactly_one_input(trained, tmp_path):
    result = CliRunner().invoke(cli, ["explain", str(trained / "b"), "--store", str(trained / "store"),
                                      "--out", str(tmp_path / "x")])
    assert result.exit_code != 0 and "expected either --manifest" in result.output


@pytest.mark.ray
@pytest.mark.slow
def test_score_explain_adds_top_contributions(trained, tmp_path, ray_local):
    out = tmp_path / "p.parquet"
    result = CliRunner().invoke(cli, ["--quiet", "score", str(trained / "b"), "--features", "radiomics",
                                      "--store", str(trained / "store"), "--out", str(out), "--explain", "2",
                                      "--no-store-write", "--n-boot", "100"])
    assert result.exit_code == 0, result.output
    import json

    preds = pd.read_parquet(out)
    inputs = json.loads((trained / "b" / "metadata.json").read_text(encoding="utf-8"))["classifier_inputs"]
    k = min(2, len(inputs))  # never more contributions than the classifier has inputs
    assert len(preds) == 50 and (preds["shap_scale"] == "log-odds").all()
    assert [c for c in preds.columns if c.startswith("shap_feature_")] == [f"shap_feature_{i + 1}" for i in range(k)]
    assert set(preds["shap_feature_1"]) <= set(inputs) and preds["shap_value_1"].notna().all()
