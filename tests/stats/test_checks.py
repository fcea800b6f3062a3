"""Input validation: every message names the item, the expectation, what was found and the fix."""

from __future__ import annotations

import numpy as np
import pytest

from alnm_ray.exceptions import AlnmRayError
from alnm_ray.stats import InvalidPredictionsError, check_labels, check_probabilities
from alnm_ray.stats.checks import check_level, check_models


def test_labels_accept_int_float_bool():
    assert check_labels([0, 1, 1]).tolist() == [0, 1, 1]
    assert check_labels(np.array([0.0, 1.0])).dtype == np.int8
    assert check_labels([True, False]).tolist() == [1, 0]


def test_error_is_package_error_and_value_error():
    assert issubclass(InvalidPredictionsError, AlnmRayError)
    assert issubclass(InvalidPredictionsError, ValueError)


@pytest.mark.parametrize("y, found", [([0, 1, 2], "2.0"), (["yes", "no"], "'no', 'yes'")])
def test_labels_not_binary(y, found):
    with pytest.raises(InvalidPredictionsError, match="expected outcomes coded 0") as err:
        check_labels(y, name="alnm")
    assert str(err.value).startswith("alnm:")
    assert found in str(err.value)
    assert "Recode the column to 0/1" in str(err.value)


def test_labels_missing_named_by_rows():
    with pytest.raises(InvalidPredictionsError, match=r"1 missing value\(s\) at CSV line\(s\) 4"):
        check_labels([0, 1, np.nan], rows=("CSV line(s)", np.array([2, 3, 4])))


def test_single_class():
    with pytest.raises(InvalidPredictionsError, match="got only 1 in all 3 rows"):
        check_labels([1, 1, 1])
    assert check_labels([1, 1], require_both=False).tolist() == [1, 1]


def test_empty_and_2d():
    with pytest.raises(InvalidPredictionsError, match="non-empty 1-D"):
        check_labels([])
    with pytest.raises(InvalidPredictionsError, match=r"shape \(2, 2\)"):
        check_probabilities([[0.1, 0.2], [0.3, 0.4]])


def test_probabilities_out_of_range():
    with pytest.raises(InvalidPredictionsError) as err:
        check_probabilities([0.2, 1.5, -0.1], name="deep_mlp")
    msg = str(err.value)
    assert msg.startswith("deep_mlp: expected probabilities in [0, 1]; got 2 value(s) outside")
    assert "row position(s) 1, 2 (0-based)" in msg
    assert "not logits" in msg
    assert check_probabilities([3.0, -2.0], probability=False).tolist() == [3.0, -2.0]


def test_probabilities_nan_inf_and_length():
    with pytest.raises(InvalidPredictionsError, match=r"2 NaN/infinite value\(s\)"):
        check_probabilities([0.1, np.nan, np.inf])
    with pytest.raises(InvalidPredictionsError, match="expected 3 predictions .* got 2"):
        check_probabilities([0.1, 0.2], n=3)
    with pytest.raises(InvalidPredictionsError, match="non-numeric"):
        check_probabilities(["a", "0.2"])


def test_long_lists_are_capped():
    with pytest.raises(InvalidPredictionsError, match=r"\(20 in all\)"):
        check_probabilities(np.full(20, 2.0))


def test_models_and_level():
    with pytest.raises(InvalidPredictionsError, match="at least one model"):
        check_models([0, 1], {})
    y, m = check_models([0, 1], {"a": [0.2, 0.8]})
    assert m["a"].dtype == np.float64
    with pytest.raises(InvalidPredictionsError, match="not a percentage"):
        check_level(95)
