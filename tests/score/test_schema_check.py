"""Feature-schema checks of a new cohort against the bundle (names in every message)."""

from __future__ import annotations

import pandas as pd
import pytest

from alnm_ray.exceptions import SchemaMismatchError
from alnm_ray.score.schema_check import SchemaAlignedWarning, check_feature_schema, diff_features

EXPECTED = ["T2WI__a", "T2WI__b", "T2WI__c", "ADC__d"]


def frame(cols):
    return pd.DataFrame([[float(i) for i in range(len(cols))]], columns=cols)


def test_identical_schema_passes_unchanged():
    table = frame(EXPECTED)
    assert check_feature_schema(EXPECTED, table, what="cohort 'x'") is table


def test_missing_features_are_listed_by_name_even_with_align():
    with pytest.raises(SchemaMismatchError) as err:
        check_feature_schema(EXPECTED, frame(["T2WI__a", "T2WI__c"]), what="cohort 'ext'", align=True)
    text = str(err.value)
    assert text.startswith("cohort 'ext': expected the 4 features the bundle was trained on")
    assert "2 missing: T2WI__b, ADC__d" in text and "--align" not in text


def test_extra_features_are_an_error_naming_them_unless_aligned():
    table = frame(EXPECTED + ["DWI__z", "DWI__y"])
    with pytest.raises(SchemaMismatchError, match=r"2 extra: DWI__z, DWI__y\. .*pass --align"):
        check_feature_schema(EXPECTED, table, what="cohort 'ext'")
    with pytest.warns(SchemaAlignedWarning, match="2 extra: DWI__z, DWI__y"):
        out = check_feature_schema(EXPECTED, table, what="cohort 'ext'", align=True)
    assert list(out.columns) == EXPECTED


def test_reordered_features_name_the_moved_feature():
    table = frame(["T2WI__b", "T2WI__c", "ADC__d", "T2WI__a"])
    with pytest.raises(SchemaMismatchError, match=r"found 1 re-ordered: T2WI__a\."):
        check_feature_schema(EXPECTED, table, what="cohort 'ext'")
    with pytest.warns(SchemaAlignedWarning):
        out = check_feature_schema(EXPECTED, table, what="cohort 'ext'", align=True)
    assert list(out.columns) == EXPECTED and out.iloc[0].tolist() == [3.0, 0.0, 1.0, 2.0]


def test_diff_lists_all_three_kinds_and_caps_long_lists():
    diff = diff_features(EXPECTED, ["T2WI__c", "T2WI__a", "new"])
    assert diff.missing == ("T2WI__b", "ADC__d") and diff.extra == ("new",) and len(diff.reordered) == 1
    many = [f"f{i}" for i in range(30)]
    text = diff_features(many, []).describe()
    assert text.startswith("30 missing: f0, f1") and "… and 20 more" in text
