"""evaluate_protocol honours ``harmonize: combat``: ComBat is a fitted step of every plain model,
learned on the training split's rows only, and the other sets are harmonised with their own centre."""

from __future__ import annotations

import warnings

import pytest

from alnm_ray import constants as C
from alnm_ray.exceptions import FallbackWarning
from alnm_ray.protocol.evaluate import TRAINING, evaluate_protocol, set_membership
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import load_inputs

from ._combat_protocol import combat_protocol, make_store


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    p = combat_protocol()
    store = make_store(tmp_path_factory.mktemp("store"), n=60, split=True, n_centers=3)["store"]
    cfg = TuneRunConfig(store=store.uri, repeats=1, folds=3, classifiers=("lr",), feature_sets=("radiomics",),
                        selection=p.selection_dict(), holdout=False, external=False)
    inputs = load_inputs(store, cfg)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        return p, inputs, evaluate_protocol(p, inputs, quick=True)


def test_combat_is_fitted_on_the_training_split_only(evaluated) -> None:
    p, inputs, ev = evaluated
    cohort = inputs.cohort.set_index(C.COL_PATIENT)
    train = set_membership(p, cohort[C.COL_SPLIT])[TRAINING]
    combat = ev.models[("radiomics", "lr")].selection.named_steps["combat"]
    expected = inputs.centers.loc[train].value_counts().sort_index()
    assert combat.n_per_batch_ == {str(k): int(v) for k, v in expected.items()}
    assert sum(combat.n_per_batch_.values()) == len(train) < len(inputs.y)
    assert combat.unseen_ == {}  # the test set's centres were all seen in training


def test_every_set_is_scored_and_the_selection_record_lists_the_combat_step(evaluated) -> None:
    _, _, ev = evaluated
    assert set(ev.metrics["set"]) == {"training", "test"}
    assert [s["step"] for s in ev.selection["radiomics"]["steps"]][:3] == ["input", "combat", "zscore"]


def test_the_selection_record_holds_the_report_s_before_after_rows(evaluated) -> None:
    p, inputs, ev = evaluated
    train = set_membership(p, inputs.cohort.set_index(C.COL_PATIENT)[C.COL_SPLIT])[TRAINING]
    harm = ev.selection["radiomics"]["harmonization"]
    assert sorted(harm["patients"]) == sorted(train)  # training split only: what ComBat learned from
    assert harm["features"] and set(harm["before"]) == set(harm["after"]) == set(harm["features"])
