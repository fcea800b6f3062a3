"""Feature-set parts, wide frames per cohort, and the inputs a pipeline uses."""

from __future__ import annotations

import pandas as pd
import pytest

from alnm_ray.exceptions import SchemaMismatchError
from alnm_ray.score.tables import LongTables, required_tables, table_parts, used_inputs, widen


def test_feature_set_parts_and_tables():
    assert table_parts("combined") == [("radiomics", "radiomics"), ("deep", "deep")]
    assert required_tables("clinical+combined+radiomics") == ["clinical", "radiomics", "deep"]
    assert required_tables("my_import") == ["my_import"]


def test_widen_filters_cohorts_and_indexes_patient_tables(rng, long_factory):
    long = pd.concat([long_factory(rng, 5, cohort="a"), long_factory(rng, 4, cohort="b")], ignore_index=True)
    clinical = pd.DataFrame({"patient_id": ["a-0000", "b-0001"], "age": [50.0, 61.0]})
    wides = widen(LongTables({}, {"radiomics": long, "clinical": clinical}), cohorts=["b"])
    assert list(wides["radiomics"].index) == [f"b-{i:04d}" for i in range(4)]
    assert wides["clinical"].loc["b-0001", "age"] == 61.0
    with pytest.raises(SchemaMismatchError, match="expected one row per patient; found repeated ids a-0000"):
        widen(LongTables({}, {"clinical": pd.concat([clinical, clinical])}))


def test_used_inputs_map_encoded_columns_back():
    class Pipe:
        steps = [("encode", None), ("zscore", None)]

    used, imputed = used_inputs(Pipe(), ["age", "grade", "T2WI__f"], ["age", "grade=3"])
    assert used == ["age", "grade"] and imputed == ["age", "grade", "T2WI__f"]
    Pipe.steps = [("zscore", None)]
    assert used_inputs(Pipe(), ["a", "b"], ["b"]) == (["b"], [])
