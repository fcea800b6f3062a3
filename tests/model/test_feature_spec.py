"""The feature-set grammar, parsed once: tables, kinds and post-fusion members."""

from __future__ import annotations

import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.model.feature_spec import FeaturePart, FeatureSetSpec, tables_needed


def test_plain_sets_name_their_tables_and_kinds():
    spec = FeatureSetSpec.parse(" clinical + combined ")
    assert spec.name == "clinical + combined" and not spec.is_fusion and spec.members == ()
    assert spec.parts == (FeaturePart("clinical", "clinical", None),
                          FeaturePart("combined", "radiomics", "radiomics"),
                          FeaturePart("combined", "deep", "deep"))
    assert spec.tables == ("clinical", "radiomics", "deep")
    assert spec.kinds == (None, "radiomics", "deep")
    imported = FeatureSetSpec.parse("pathology+radiomics")
    assert imported.tables == ("pathology", "radiomics") and imported.kinds == (None, "radiomics")
    # a repeated token repeats its parts but not its tables
    assert FeatureSetSpec.parse("combined+radiomics").tables == ("radiomics", "deep")


def test_post_fusion_sets_expose_members_and_their_tables():
    spec = FeatureSetSpec.parse("post:clinical+combined")
    assert spec.is_fusion and spec.parts == ()
    assert spec.members == ("clinical", "combined")
    assert [m.name for m in spec.member_specs] == ["clinical", "combined"]
    assert spec.tables == ("clinical", "radiomics", "deep")
    assert FeatureSetSpec.parse(spec) is spec  # a spec is returned as it is


@pytest.mark.parametrize("name, message", [
    ("", "expected a name like 'radiomics'"),
    (" + ", "expected a name like 'radiomics'"),
    ("post:radiomics", "at least two distinct components"),
    ("post:deep+deep", "at least two distinct components"),
])
def test_bad_names_are_refused_with_the_fix(name, message):
    with pytest.raises(ConfigError, match=message):
        FeatureSetSpec.parse(name)


def test_tables_needed_over_several_sets_keeps_first_use_order():
    assert tables_needed(["deep", "post:clinical+radiomics", "my_import"]) == [
        "deep", "clinical", "radiomics", "my_import"]
