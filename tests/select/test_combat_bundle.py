"""A pipeline with ComBat through `alnm-ray train`'s code path: a signed skops bundle that
applies the learned centre parameters to new patients from their centre column; centres
unseen in training follow the configured policy and are recorded in the scoring output."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, FallbackWarning
from alnm_ray.score.bundle import load_bundle
from alnm_ray.score.predict import score_batch
from alnm_ray.score.train import TrainConfig, train_bundle
from alnm_ray.store import FeatureStore, to_wide

SELECTION = {"preset": "liu2025", "harmonize": "combat", "lasso_repeats": 1, "lasso_folds": 3}
#: Additive centre effect of each centre on every feature (SDs).
SHIFTS = {"c1": 0.0, "c2": 3.0, "c3": -2.0}


def long_rows(rng: np.random.Generator, n: int, center: str, n_features: int = 6) -> pd.DataFrame:
    """Reader A case rows of one centre; the first two features carry the label."""
    y = (rng.random(n) < 0.5).astype(int)
    rows = []
    for p in range(n):
        for seq in ("T2WI", "ADC"):
            base = rng.normal(size=n_features) + SHIFTS[center]
            base[0] += 1.5 * y[p]
            base[1] -= 1.0 * y[p]
            rows.append({"cohort": "multi", "center": center, "patient_id": f"{center}-{p:03d}",
                         "sequence": seq, "reader": "A", "label": int(y[p]), "split": "train",
                         **{f"original_firstorder_F{i}": float(v) for i, v in enumerate(base)}})
    return pd.DataFrame(rows)


@pytest.fixture
def store(tmp_path, rng):
    store = FeatureStore(tmp_path / "store")
    long = pd.concat([long_rows(rng, 40, "c1"), long_rows(rng, 40, "c2")], ignore_index=True)
    store.write_version("radiomics", long, params={"pyradiomics_params": {"setting": {}}})
    return store


def _batch(rng: np.random.Generator, center: str, as_center: str | None = None) -> pd.DataFrame:
    wide = to_wide(long_rows(rng, 30, center))
    wide["center"] = as_center or center
    return wide.reset_index()


def test_signed_bundle_applies_the_learned_centre_parameters(tmp_path, store, rng):
    result = train_bundle(store, TrainConfig("radiomics", "lr", selection=SELECTION, split=None),
                          str(tmp_path / "b"))
    bundle = load_bundle(tmp_path / "b")  # verifies the signature and the skops types
    assert result.signer is not None
    assert "alnm_ray.select.combat.ComBatHarmonizer" in bundle.metadata["model"]["trusted_types"]
    assert bundle.metadata["harmonization"] == {"method": "combat", "batch_column": "center",
                                                "centers": ["c1", "c2"], "unseen": "refuse",
                                                "reference": None}
    combat = bundle.model.selection.named_steps["combat"]
    assert combat.batches_ == ["c1", "c2"]
    assert np.ptp(combat.gamma_star_.mean(axis=1)) > 1.0  # the 3-SD shift of c2 was learned
    # new c2 patients are harmonised with c2's parameters: scored like the same rows from c1
    new_c2 = _batch(np.random.default_rng(5), "c2")
    as_c1 = new_c2.assign(**{c: new_c2[c] - SHIFTS["c2"] for c in bundle.features})
    out_c2, out_c1 = score_batch(bundle, new_c2), score_batch(bundle, as_c1.assign(center="c1"))
    assert (out_c2["error_type"] == "").all() and (out_c2["message"] == "").all()
    assert np.corrcoef(out_c2["probability"], out_c1["probability"])[0, 1] > 0.95
    assert abs(out_c2["probability"].mean() - out_c1["probability"].mean()) < 0.1
    # read with the wrong centre, the shift is not removed and the probabilities move
    wrong = score_batch(bundle, new_c2.assign(center="c1"))
    assert abs(wrong["probability"].mean() - out_c2["probability"].mean()) > 0.1
    # an unseen centre is refused, row by row, with the reason in the scoring output
    unseen = score_batch(bundle, _batch(np.random.default_rng(6), "c3"))
    assert (unseen["error_type"] == "UnseenBatchError").all()
    assert unseen["message"].str.contains(r"centre\(s\) 'c3' were not in the training rows").all()
    assert unseen["probability"].isna().all() and (unseen["predicted_label"] == -1).all()


def test_unseen_centre_left_unharmonised_is_recorded_per_row(tmp_path, store):
    selection = {**SELECTION, "combat_unseen": "none"}
    train_bundle(store, TrainConfig("radiomics", "lr", selection=selection, split=None),
                 str(tmp_path / "b"))
    bundle = load_bundle(tmp_path / "b")
    batch = pd.concat([_batch(np.random.default_rng(7), "c3"),
                       _batch(np.random.default_rng(8), "c1")], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        out = score_batch(bundle, batch)
    assert (out["error_type"] == "").all() and out["probability"].notna().all()
    c3 = out["center"] == "c3"
    assert out.loc[c3, "message"].str.endswith(
        "combat: centre 'c3' unseen in training: left unharmonised").all()
    assert (out.loc[~c3, "message"] == "").all()


def test_train_refuses_covariates_it_could_not_read_for_new_patients(tmp_path, store):
    selection = {**SELECTION, "combat_covariates": ["age"]}
    with pytest.raises(ConfigError, match=r"combat_covariates=\['age'\].*Set combat_covariates: \[\]"):
        train_bundle(store, TrainConfig("radiomics", "lr", selection=selection, split=None),
                     str(tmp_path / "b"))
