"""load_inputs frees the frames it read once the sets are built: the sets are unchanged."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest

from alnm_ray.model.cohort import read_cohort
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import load_inputs

SETS = ("combined", "clinical", "radiomics")


@pytest.mark.parametrize("unlabelled,icc", [(0, None), (5, None), (0, 0.5)])
def test_sets_are_the_cohorts_feature_sets_of_the_modelled_patients(tmp_path, tiny_store, unlabelled, icc):
    made = tiny_store(tmp_path / "s", n=30, unlabelled=unlabelled)
    cfg = TuneRunConfig(store=str(made["store"].uri), repeats=1, folds=3, feature_sets=SETS,
                        selection={"icc_threshold": icc})
    inputs = load_inputs(made["store"], cfg)
    cohort = read_cohort(made["store"], list(SETS))
    for name in SETS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = cohort.feature_set(name).loc[inputs.y.index]
        pd.testing.assert_frame_equal(inputs.sets[name], expected, check_exact=True)
        assert inputs.sets[name].index.name == "patient_id"
    assert len(inputs.y) == 30 - unlabelled
    assert (inputs.reader_ratings is not None) == (icc is not None)
    assert {"age", "grade"} <= set(inputs.cohort.columns)  # the clinical table is still read after the sets
