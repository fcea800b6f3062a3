"""The model card every trained bundle carries."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.card import render_card, set_metrics
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory, long_factory, fast_selection):
    root = tmp_path_factory.mktemp("card")
    store = FeatureStore(root / "store")
    store.write_version("radiomics", long_factory(np.random.default_rng(8), 60),
                        params={"pyradiomics_params": {"setting": {}}})
    train_bundle(store, TrainConfig("radiomics", "lr", selection=fast_selection, seed=2), str(root / "b"))
    return root / "b"


def test_train_writes_a_signed_model_card_with_cohort_metrics_and_tripod_items(bundle_path):
    bundle = load_bundle(bundle_path)
    card = bundle.extras["model_card"].decode("utf-8")
    assert bundle.metadata["files"]["model_card"] == "MODEL_CARD.md"
    assert "MODEL_CARD.md" in (bundle_path / "CHECKSUMS.sha256").read_text(encoding="utf-8")
    for heading in ("# Model description", "## Intended use", "# Training cohort", "# Protocol and assumptions",
                    "# Evaluation results", "## Calibration", "# TRIPOD items", "# Explanations and privacy",
                    "# Known limitations"):
        assert heading in card
    n, npos = bundle.metadata["training"]["n_patients"], bundle.metadata["training"]["n_positive"]
    assert f"{n} patients, {npos} with ALNM (prevalence {npos / n:.3f})" in card
    assert "centres: c1" in card
    # apparent training performance and the store's held-out split, each with an interval
    assert "| training (apparent) | 42 |" in card and "| train_c (test) | 18 |" in card
    assert "stores 100 training patients' rows" in card or "stores 42 training patients' rows" in card


def test_set_metrics_are_correct_on_a_known_case():
    m = set_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.5, n_boot=200)
    assert m["auc"] == pytest.approx(0.75) and m["auc_low"] <= 0.75 <= m["auc_high"]
    assert (m["n"], m["n_positive"], m["prevalence"]) == (4, 2, 0.5)
    assert (m["sensitivity"], m["specificity"]) == (0.5, 1.0)
    one_class = set_metrics([1, 1], [0.2, 0.9], 0.5)
    assert np.isnan(one_class["auc"]) and one_class["sensitivity"] == 0.5


def test_a_bundle_without_background_says_so_in_its_card():
    meta = {"feature_set": "radiomics", "classifier": "lr", "threshold": 0.4, "training": {"n_patients": 10,
            "n_positive": 4, "centers": ["c1", "c2"]}, "features": ["a"], "selected_features": ["a"]}
    metrics = {"training (apparent)": set_metrics([0, 1] * 5, np.linspace(0.1, 0.9, 10), 0.4, n_boot=100)}
    card = render_card(meta, metrics, background_rows=0)
    assert "stores no training rows (`--explain-background 0`)" in card and "centres: c1, c2" in card
    assert "stores 5 training patients' rows" in render_card(meta, metrics, background_rows=5)


def test_a_harmonising_bundle_evaluates_its_held_out_sets_with_their_centres(tmp_path, long_factory,
                                                                            fast_selection):
    """ComBat reads each patient's centre: the card's held-out sets get it too, not a NaN centre."""
    import pandas as pd

    rng = np.random.default_rng(5)
    parts = [long_factory(rng, 40, cohort="a", center="c1"), long_factory(rng, 40, cohort="a", center="c2",
                                                                         shift=0.5)]
    for i, part in enumerate(parts):  # distinct ids across the two centres
        part["patient_id"] = part["patient_id"].astype(str) + f"-{i}"
    store = FeatureStore(tmp_path / "store")
    store.write_version("radiomics", pd.concat(parts, ignore_index=True),
                        params={"pyradiomics_params": {"setting": {}}})
    train_bundle(store, TrainConfig("radiomics", "lr", selection={**fast_selection, "harmonize": "combat"},
                                    seed=2), str(tmp_path / "b"))
    card = load_bundle(tmp_path / "b").extras["model_card"].decode("utf-8")
    assert "(test) |" in card and "not evaluated" not in card
