"""Feature-set assembly from wide per-patient tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError, FallbackWarning, SchemaMismatchError
from alnm_ray.model import FeatureSetSpec, assemble_feature_set, assemble_feature_sets
from alnm_ray.model.feature_sets import drop_empty_columns


@pytest.fixture
def tables(cohort):
    c = cohort(n=20, p_rad=6, p_deep=4, seed=0)
    imported = pd.DataFrame({"patient_id": c["y"].index, "ki67": np.arange(20.0)})
    return {"radiomics": c["radiomics"], "deep": c["deep"], "clinical": c["clinical"],
            "pathology": imported}


def test_sets_pick_the_right_columns(tables):
    sets = assemble_feature_sets(["radiomics", "deep", "combined", "clinical",
                                  "clinical+radiomics", "pathology"], tables)
    assert all("__original_" in c for c in sets["radiomics"].columns)
    assert "label" not in sets["radiomics"] and "center" not in sets["radiomics"]
    assert all("__deep_" in c for c in sets["deep"].columns)
    assert list(sets["combined"].columns) == list(sets["radiomics"].columns) + list(
        sets["deep"].columns)
    assert list(sets["clinical"].columns) == ["age", "grade", "er"]
    assert sets["clinical+radiomics"].shape[1] == 3 + 6
    assert list(sets["pathology"].columns) == ["ki67"]
    assert sets["pathology"].index.name == "patient_id"


def test_patient_mismatch_strict_and_inner(tables):
    tables["deep"] = tables["deep"].iloc[2:]
    with pytest.raises(SchemaMismatchError, match=r"2 only in the first \('P0000', 'P0001'\)"):
        assemble_feature_set("combined", tables)
    with pytest.warns(FallbackWarning, match="dropped 2 patient"):
        assert len(assemble_feature_set("combined", tables, join="inner")) == 18


def test_missing_table_and_post_fusion_names_are_refused(tables):
    with pytest.raises(SchemaMismatchError, match=r"needs table 'mri_extra'"):
        assemble_feature_set("clinical+mri_extra", tables)
    with pytest.raises(ConfigError, match="post-fusion set is not one table"):
        assemble_feature_set("post:clinical+radiomics", tables)
    spec = FeatureSetSpec.parse("clinical+radiomics")
    assert assemble_feature_set(spec, tables).equals(assemble_feature_set("clinical+radiomics", tables))


def test_empty_columns_are_dropped_once_and_listed(tables):
    rad = tables["radiomics"].copy()
    first = [c for c in rad.columns if "__original_" in c][0]
    rad[first] = np.nan
    X = assemble_feature_set("radiomics", dict(tables, radiomics=rad))
    assert first not in X.columns and X.attrs["dropped_empty"] == [first]
    kept, dropped = drop_empty_columns(X.iloc[:0], "radiomics")  # no rows: nothing has a value
    assert dropped == list(X.columns) and kept.shape == (0, 0)
