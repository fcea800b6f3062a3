"""SynthConfig: defaults, validation messages, serialisation, hash."""

from __future__ import annotations

import pytest
import yaml

from alnm_ray.exceptions import ConfigError
from alnm_ray.synth import SIZE_PRESETS, SynthConfig


def test_defaults_come_from_the_size_preset():
    assert SynthConfig().patients == SIZE_PRESETS["small"].default_patients
    paper = SynthConfig(size="paper")
    assert paper.patients == 270
    assert paper.n_repeat == 30
    assert paper.prevalence == pytest.approx(0.433)


def test_repeat_subset_is_capped_at_the_cohort_size():
    assert SynthConfig(patients=4, centers=2).n_repeat == 4
    assert SynthConfig(patients=100, n_repeat_readers=0).n_repeat == 0


def test_round_trip_and_stable_hash():
    cfg = SynthConfig(patients=12, centers=3, seed=5, signal=0.5)
    assert SynthConfig.from_dict(cfg.to_dict()) == cfg
    assert SynthConfig.from_dict(yaml.safe_load(cfg.to_yaml())) == cfg
    assert cfg.config_hash() == SynthConfig(patients=12, centers=3, seed=5, signal=0.5).config_hash()
    assert cfg.config_hash() != SynthConfig(patients=12, centers=3, seed=6, signal=0.5).config_hash()


def test_numpy_integers_are_accepted():
    np = pytest.importorskip("numpy")
    assert SynthConfig(patients=np.int64(5), centers=np.int32(2)).patients == 5


@pytest.mark.parametrize(("kwargs", "fragments"), [
    ({"patients": 0}, ["patients", "expected an integer >= 1", "got 0", "--patients"]),
    ({"patients": 3, "centers": 4}, ["centers", "at most as many centres as patients (3)", "got 4",
                                     "lower --centers"]),
    ({"centers": 0}, ["centers", ">= 1", "got 0"]),
    ({"seed": -1}, ["seed", ">= 0", "got -1"]),
    ({"signal": -0.5}, ["signal", "got -0.5"]),
    ({"prevalence": 1.5}, ["prevalence", "got 1.5"]),
    ({"size": "papr"}, ["size", "paper, small", "Did you mean 'paper'?"]),
    ({"cohort": "my cohort"}, ["cohort", "got 'my cohort'", "Choose a name"]),
    ({"n_repeat_readers": -3}, ["n_repeat_readers", "got -3", "--repeat-readers"]),
])
def test_bad_values_name_the_field_the_value_and_the_fix(kwargs, fragments):
    with pytest.raises(ConfigError) as err:
        SynthConfig(**kwargs)
    for fragment in fragments:
        assert fragment in str(err.value)


def test_unknown_keys_are_rejected():
    with pytest.raises(ConfigError, match="unknown patiens"):
        SynthConfig.from_dict({"patiens": 3})
