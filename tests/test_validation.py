"""The shared boundary checks and message helpers of :mod:`alnm_ray._validation`."""

from __future__ import annotations

import pytest

from alnm_ray._validation import MAX_SHOWN, capped, look_up_option
from alnm_ray.exceptions import ConfigError


def test_capped_lists_a_few_items_then_the_count() -> None:
    assert capped(["P1", "P2"]) == "'P1', 'P2'"
    assert capped([f"P{i}" for i in range(MAX_SHOWN)]).count("'") == 2 * MAX_SHOWN
    assert capped(range(12), n=3) == "0, 1, 2, … (12 in all)"
    assert capped(iter(["a", "b", "c"]), n=2) == "'a', 'b', … (3 in all)"
    assert capped([]) == ""


def test_look_up_option_suggests_the_closest_option() -> None:
    with pytest.raises(ConfigError, match=r"expected one of DWI, T2WI; got 'T2W'\. Did you mean 'T2WI'\?"):
        look_up_option("sequence", "T2W", ["T2WI", "DWI"])
