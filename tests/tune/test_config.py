"""TuneRunConfig: validation with clear messages, serialisation, a hash blind to scheduling."""

from __future__ import annotations

import pytest
import yaml

from alnm_ray.exceptions import ConfigError
from alnm_ray.tune.config import TuneRunConfig


def test_defaults_resolve_the_preset_and_round_trip_through_yaml() -> None:
    cfg = TuneRunConfig(store="s", classifiers=("lr", "mlp"), tables={"radiomics": "abc"})
    assert cfg.selection["name"] == "guo2024" and cfg.selection["icc_threshold"] == 0.9
    again = TuneRunConfig.from_dict(yaml.safe_load(cfg.to_yaml()))
    assert again == cfg
    assert again.tables == (("radiomics", "abc"),)


def test_run_hash_ignores_scheduling_but_not_content_or_inputs() -> None:
    cfg = TuneRunConfig(store="s", repeats=2, folds=3)
    base = cfg.run_hash({"radiomics": "v1"})
    assert cfg.replace(chunk=1, max_concurrent=1, max_trials=3, quiet=True, store="t"
                       ).run_hash({"radiomics": "v1"}) == base
    assert cfg.replace(repeats=3).run_hash({"radiomics": "v1"}) != base
    assert cfg.replace(seed=1).run_hash({"radiomics": "v1"}) != base
    assert cfg.run_hash({"radiomics": "v2"}) != base
    assert len(base) == 64


def test_without_holdout_cv_uses_everyone() -> None:
    assert TuneRunConfig(store="s", holdout=False).cv_on == "all"
    assert TuneRunConfig(store="s").cv_on == "train"


@pytest.mark.parametrize("changes, text", [
    ({"classifiers": ("lr", "svn")}, "Did you mean 'svm'"),
    ({"classifiers": ()}, "at least one classifier"),
    ({"classifiers": ("lr", "lr")}, "distinct"),
    ({"repeats": 0}, "repeats"),
    ({"folds": 1}, "folds"),
    ({"search": "bayes"}, "search"),
    ({"cv_on": "test"}, "cv_on"),
    ({"feature_sets": ()}, "at least one set"),
    ({"preset": "guo2023"}, "Did you mean 'guo2024'"),
])
def test_bad_values_raise_config_errors_naming_the_field(changes, text) -> None:
    with pytest.raises(ConfigError, match=text):
        TuneRunConfig(store="s", **changes)


def test_unknown_keys_are_rejected_with_a_suggestion() -> None:
    with pytest.raises(ConfigError, match="Did you mean 'repeats'"):
        TuneRunConfig(store="s").replace(repeat=3)
    with pytest.raises(ConfigError, match="unknown key"):
        TuneRunConfig.from_dict({"store": "s", "folds_": 3})
