"""ICC formulas against published/hand-worked values, and the in-fold ICC filter."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
from imblearn.pipeline import Pipeline as ImbPipeline
from sklearn.pipeline import Pipeline as SkPipeline

from alnm_ray.exceptions import FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.select import EmptySelectionError, ICCFilter, ReaderRatings, ZScoreScaler, intraclass_correlation

from .conftest import long_reader_table

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.  Their Table 4
# reports ICC(1,1)=.17, ICC(2,1)=.29, ICC(3,1)=.71.
SHROUT_FLEISS = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
                          [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], dtype=float)


@pytest.mark.parametrize(("kind", "expected"), [("ICC1", 0.17), ("ICC2", 0.29), ("ICC3", 0.71)])
def test_shrout_fleiss_published_values(kind, expected):
    assert round(float(intraclass_correlation(SHROUT_FLEISS, kind)), 2) == expected


def test_hand_worked_two_rater_example():
    # Targets (1,2), (3,3), (5,7); n=3, k=2, grand mean 3.5.
    # SS_rows = 2*[(1.5-3.5)^2 + (3-3.5)^2 + (6-3.5)^2] = 21   -> MSR = 10.5
    # SS_cols = 3*[(3-3.5)^2 + (4-3.5)^2] = 1.5                -> MSC = 1.5
    # SS_tot = 23.5, SS_err = 23.5 - 21 - 1.5 = 1              -> MSE = 1 / 2 = 0.5
    # ICC(3,1) = (10.5-0.5)/(10.5+0.5) = 10/11
    # ICC(2,1) = (10.5-0.5)/(10.5+0.5+2*(1.5-0.5)/3) = 6/7
    x = np.array([[1, 2], [3, 3], [5, 7]], dtype=float)
    assert intraclass_correlation(x, "ICC3") == pytest.approx(10 / 11)
    assert intraclass_correlation(x, "ICC2") == pytest.approx(6 / 7)


def test_vectorised_equals_per_feature(rng):
    r = rng.normal(size=(12, 2, 5))
    r[:, 1] += 0.3 * rng.normal(size=(12, 5))
    together = intraclass_correlation(r, "ICC2")
    single = [float(intraclass_correlation(r[:, :, j], "ICC2")) for j in range(5)]
    np.testing.assert_allclose(together, single)


def test_constant_feature_gives_nan():
    assert np.isnan(intraclass_correlation(np.ones((5, 2)), "ICC2"))


def _setup(rng, n=40, n_icc=20):
    ids = [f"P{i:03d}" for i in range(n)]
    base = {f"original_glcm_F{j}": rng.normal(size=n) for j in range(4)}
    noise = {"B": {"original_glcm_F1": 3.0}, "A2": {"original_glcm_F2": 3.0}}
    table = long_reader_table(base, ids, noise, ids[:n_icc], seed=1)
    X = pd.DataFrame({f"T2WI__{k}": v for k, v in base.items()}, index=ids)
    X["T2WI__deep_000"] = rng.normal(size=n)
    X["age"] = rng.normal(size=n)
    return X, table


def test_filter_keeps_reproducible_and_bypasses_non_radiomics(rng):
    X, table = _setup(rng)
    f = ICCFilter(threshold=0.9).fit(X, reader_table=table)
    # F1 fails the A-B pair, F2 fails the A-A2 pair: a feature must pass both.
    assert f.selected_features_ == ["T2WI__original_glcm_F0", "T2WI__original_glcm_F3",
                                    "T2WI__deep_000", "age"]
    assert f.bypassed_ == ["T2WI__deep_000", "age"]
    assert f.icc_.loc["T2WI__original_glcm_F1", "B"] < 0.5 < f.icc_.loc["T2WI__original_glcm_F1", "A2"]
    assert f.n_patients_ == {"B": 20, "A2": 20}
    assert list(f.transform(X).columns) == f.selected_features_


def test_uses_only_training_patients(rng):
    X, table = _setup(rng)
    # Make readers disagree wildly on F0, but only for patients outside the training rows.
    outside = ["P010", "P011", "P012", "P013", "P014"]
    mask = table.reader.eq("B") & table.patient_id.isin(outside)
    table.loc[mask, "original_glcm_F0"] += 50.0
    train = X.drop(index=outside)
    assert "T2WI__original_glcm_F0" in ICCFilter(threshold=0.9).fit(train, reader_table=table).selected_features_
    assert "T2WI__original_glcm_F0" not in ICCFilter(threshold=0.9).fit(X, reader_table=table).selected_features_


def test_inclusive_threshold_and_icc3(rng):
    X, table = _setup(rng)
    exact = ICCFilter(threshold=0.0, kind="ICC3").fit(X, reader_table=table).icc_.min(axis=1)
    value = float(exact.loc["T2WI__original_glcm_F0"])
    keep_incl = ICCFilter(threshold=value, kind="ICC3", inclusive=True).fit(X, reader_table=table).selected_features_
    keep_excl = ICCFilter(threshold=value, kind="ICC3", inclusive=False).fit(X, reader_table=table).selected_features_
    assert "T2WI__original_glcm_F0" in keep_incl
    assert "T2WI__original_glcm_F0" not in keep_excl


def test_too_few_patients_falls_back_with_record(rng):
    X, table = _setup(rng, n_icc=3)
    with pytest.warns(FallbackWarning, match="pair skipped"):
        f = ICCFilter(threshold=0.9, min_patients=5).fit(X, reader_table=ReaderRatings(table))
    assert "no pair usable" in f.fallback_
    assert f.get_support().all()


def test_all_filtered_policies(rng):
    X, table = _setup(rng)
    radiomics = X[[c for c in X.columns if "original" in c]]
    with pytest.warns(FallbackWarning, match="all 4 features filtered out"):
        f = ICCFilter(threshold=1.0).fit(radiomics, reader_table=table)
    assert len(f.selected_features_) == 1
    assert "policy 'best'" in f.fallback_
    with pytest.raises(EmptySelectionError, match="all 4 features were filtered out"):
        ICCFilter(threshold=1.0, empty_policy="raise").fit(radiomics, reader_table=table)


def test_errors_name_the_problem(rng):
    X, table = _setup(rng)
    with pytest.raises(SchemaMismatchError, match=r"no rows for reader 'C'.*readers present"):
        ICCFilter(threshold=0.9, pairs=("C",)).fit(X, reader_table=table)
    with pytest.raises(SchemaMismatchError, match=r"reader_table: expected the long radiomics table .* as "
                                                  r"data of fit; got None\. Pass fit\(X, reader_table="):
        ICCFilter(threshold=0.9).fit(X)
    dup = pd.concat([table, table.iloc[:1]])
    with pytest.raises(SchemaMismatchError, match="duplicate rows"):
        ICCFilter(threshold=0.9).fit(X, reader_table=dup)
    with pytest.raises(NotFittedError, match="not fitted"):
        ICCFilter().transform(X)


def test_constructor_reader_table_still_works_with_a_future_warning(rng):
    X, table = _setup(rng)
    with pytest.warns(FutureWarning, match="reader_table given to ICCFilter\\(...\\) is deprecated"):
        old = ICCFilter(table, threshold=0.9).fit(X)
    new = ICCFilter(threshold=0.9).fit(X, reader_table=table)
    assert old.selected_features_ == new.selected_features_
    # data given to fit wins over the constructor's
    other = table.assign(original_glcm_F1=table["original_glcm_F0"])
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # no deprecation warning when fit gets the table
        assert "T2WI__original_glcm_F1" in ICCFilter(table, 0.9).fit(X, reader_table=other).selected_features_


def test_reader_rows_travel_through_a_pipeline_as_fit_data(rng):
    X, table = _setup(rng)
    y = np.arange(len(X)) % 2
    expected = ICCFilter(threshold=0.9).fit(X, reader_table=table).selected_features_
    # step__param routing (no global setting), in scikit-learn's and imbalanced-learn's Pipeline
    for pipe in (SkPipeline([("icc", ICCFilter(threshold=0.9)), ("z", ZScoreScaler())]),
                 ImbPipeline([("icc", ICCFilter(threshold=0.9)), ("z", ZScoreScaler())])):
        pipe.fit(X, y, icc__reader_table=table)
        assert pipe.named_steps["icc"].selected_features_ == expected
        assert pipe.named_steps["icc"].reader_table is None  # the data is not a parameter
    # metadata routing: requested by default, or under an alias with set_fit_request
    with sklearn.config_context(enable_metadata_routing=True):
        pipe = SkPipeline([("icc", ICCFilter(threshold=0.9)), ("z", ZScoreScaler())])
        assert pipe.fit(X, y, reader_table=table).named_steps["icc"].selected_features_ == expected
        aliased = ICCFilter(threshold=0.9).set_fit_request(reader_table="readers")
        pipe = SkPipeline([("icc", aliased), ("z", ZScoreScaler())])
        assert pipe.fit(X, y, readers=table).named_steps["icc"].selected_features_ == expected
        assert not hasattr(pipe.named_steps["icc"], "_fit_readers")
