"""SelectionConfig: presets, validation messages, YAML round trip, stable hash."""

from __future__ import annotations

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.select import PRESETS, SelectionConfig


def test_guo2024_preset_is_the_paper():
    c = SelectionConfig.preset("guo2024")
    assert (c.icc_threshold, c.icc_kind, c.icc_inclusive, c.icc_pairs) == (0.9, "ICC2", False,
                                                                           ("B", "A2"))
    assert (c.smote, c.smote_k, c.zscore) == (True, 5, True)
    assert c.steps == ("univariate", "correlation", "mrmr", "lasso")
    assert (c.univariate_alpha, c.correlation_methods, c.correlation_threshold) == (
        0.05, ("spearman",), 0.9)
    assert (c.lasso_repeats, c.lasso_folds) == (20, 10)


def test_variant_presets():
    assert PRESETS["liu2025"].correlation_methods == ("spearman", "pearson")
    assert PRESETS["liu2025"].correlation_threshold == 0.75
    assert PRESETS["liu2025"].lasso_folds == 5
    gu = PRESETS["gu2025"]
    assert gu.icc_inclusive and gu.icc_threshold == 0.75
    assert gu.steps_for("deep") == ("importance",) and gu.steps_for("radiomics") == ("lasso",)
    assert "mutual_info" in PRESETS["zhang2025"].steps


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_yaml_round_trip_and_hash(name):
    c = SelectionConfig.preset(name)
    back = SelectionConfig.from_yaml(c.to_yaml())
    assert back == c
    assert back.config_hash() == c.config_hash()
    assert c.replace(seed=c.seed + 1).config_hash() != c.config_hash()


def test_from_dict_starts_from_preset():
    c = SelectionConfig.from_dict({"preset": "guo2024", "lasso_repeats": 2, "steps": ["lasso"]})
    assert c.lasso_repeats == 2 and c.steps == ("lasso",) and c.smote_k == 5


@pytest.mark.parametrize(("changes", "message"), [
    ({"steps": ("univariate", "mrmrr")}, "steps: expected one of .* Did you mean 'mrmr'"),
    ({"icc_threshold": 1.5}, r"icc_threshold: expected a value in \[0.0, 1.0\]; got 1.5"),
    ({"icc_kind": "ICC(2,1)"}, "icc_kind: expected one of ICC1, ICC2, ICC3"),
    ({"correlation_drop": "rand"}, "Did you mean 'random'"),
    ({"lasso_folds": 1}, "lasso_folds"),
    ({"lasso_reapeats": 3}, "unknown field.*Did you mean 'lasso_repeats'"),
])
def test_bad_values_are_explained(changes, message):
    with pytest.raises(ConfigError, match=message):
        SelectionConfig.preset("guo2024").replace(**changes)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="Did you mean 'guo2024'"):
        SelectionConfig.preset("guo2042")
