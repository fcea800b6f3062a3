"""The frozen data every trial reads, and the one place a trial reads Tune's config dict."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.select import SelectionConfig
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import cv_patients, load_inputs
from alnm_ray.tune.payload import UNIT_KEY, TrialPayload, build_payload
from alnm_ray.tune.units import KIND_HOLDOUT, plan_units

FAST = {"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3}


@pytest.fixture
def built(tmp_path, tiny_store):
    made = tiny_store(tmp_path / "s", n=30)
    cfg = TuneRunConfig(store=made["store"].uri, repeats=2, folds=3, classifiers=("lr",), seed=7,
                        feature_sets=("radiomics", "post:clinical+deep"), selection=FAST)
    inputs = load_inputs(made["store"], cfg)
    units = plan_units(inputs.plain, inputs.fusion, repeats=2, folds=3, widths={}, cpus=1, chunk=1)
    return cfg, inputs, units, build_payload(inputs, cfg, units, "run-y", tmp_path / "t", None)


def test_payload_is_typed_and_frozen(built, tmp_path) -> None:
    cfg, inputs, units, payload = built
    assert isinstance(payload, TrialPayload)
    assert payload.config is cfg and payload.config.seed == 7  # no flattened dict to read back
    assert isinstance(payload.selection, SelectionConfig) and payload.selection == cfg.selection_config()
    assert payload.trials_dir.is_absolute() and payload.trials_dir == (tmp_path / "t").resolve()
    assert list(payload.units) == [u.uid for u in units]
    assert payload.cv_ids == tuple(cv_patients(inputs, cfg)) and payload.candidates is None
    assert payload.train_ids is not None and set(payload.train_ids) == set(inputs.train_ids)
    with pytest.raises(dataclasses.FrozenInstanceError):
        payload.run_id = "another"  # type: ignore[misc]


def test_unit_for_reads_the_trial_config_and_names_the_fix(built) -> None:
    _, _, units, payload = built
    holdout = next(u for u in units if u.kind == KIND_HOLDOUT)
    assert payload.unit_for({UNIT_KEY: holdout.uid}) is holdout
    with pytest.raises(ConfigError, match=r"trial config: expected \{'unit': <unit id>\} naming a "
                                          r"unit of run run-y.*got \{'unit': 'cv\.nope'\}\. .*re-run"):
        payload.unit_for({UNIT_KEY: "cv.nope"})
    with pytest.raises(ConfigError, match=r"got \{\}"):
        payload.unit_for({})


def test_rows_follow_the_ids_and_the_payload_survives_pickling(built) -> None:
    _, inputs, units, payload = built
    fusion = next(u for u in units if u.fusion)
    ids = list(reversed(payload.cv_ids))[:5]
    sets, y = payload.rows(fusion, ids)
    assert sorted(sets) == sorted(fusion.components)
    assert all(list(X.index) == ids for X in sets.values()) and list(y.index) == ids
    # Ray serialises the payload into the object store once.
    copy = pickle.loads(pickle.dumps(payload))
    assert copy.config == payload.config and copy.units == payload.units
    assert copy.sets["radiomics"].equals(inputs.sets["radiomics"])
