"""Clinical logistic-regression builder against plain statsmodels fits."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from alnm_ray.exceptions import FallbackWarning, NotFittedError, SchemaMismatchError
from alnm_ray.stats import ClinicalLogisticModel, LogisticFitError


def _expit(v):
    return 1.0 / (1.0 + np.exp(-v))


@pytest.fixture
def clinical(rng):
    """600 patients: size, HER2 and subtype matter; age, side and noise are irrelevant.

    Every patient appears twice with the same signal and outcome but mirrored
    irrelevant columns (left/right, noise z/-z, age 55 +- d).  The data map onto
    themselves when the mirrored columns are flipped, so their maximum-likelihood
    coefficients are exactly 0 -- irrelevant by construction, not by chance.
    """
    n = 300
    base = pd.DataFrame({
        "size": rng.gamma(4.0, 0.6, n),
        "her2": rng.choice(["negative", "positive"], n, p=[0.75, 0.25]),
        "subtype": rng.choice(["LumA", "LumB", "HER2", "TNBC"], n),
    })
    lp = (-2.4 + 0.9 * base["size"] + 1.1 * (base["her2"] == "positive")
          + 0.9 * (base["subtype"] == "LumB") + 1.3 * (base["subtype"] == "TNBC"))
    y = (rng.uniform(size=n) < _expit(lp)).astype(int)
    d, z = rng.normal(0, 10, n), rng.normal(size=n)
    side = rng.choice(["left", "right"], n)
    flip = np.where(side == "left", "right", "left")
    X = pd.concat([base.assign(age=55 + d, side=side, noise=z),
                   base.assign(age=55 - d, side=flip, noise=-z)], ignore_index=True)
    X = X[["age", "size", "side", "her2", "subtype", "noise"]]
    return X, np.r_[y, y]


def _dummies(X, cols, refs):
    out = []
    for c in cols:
        if c in refs:
            levels = sorted(set(X[c]) - {refs[c]})
            out += [pd.Series((X[c] == lev).astype(float), name=f"{c}[{lev}]") for lev in levels]
        else:
            out.append(X[c].astype(float))
    return sm.add_constant(pd.concat(out, axis=1))


REFS = {"side": "left", "her2": "negative", "subtype": "HER2"}


def test_multivariable_equals_plain_statsmodels_fit(clinical):
    X, y = clinical
    m = ClinicalLogisticModel(univariate_p=None, selection="backward").fit(X, y)
    assert m.kept_ == ["size", "her2", "subtype"]
    ref = sm.Logit(y, _dummies(X, m.kept_, REFS)).fit(disp=0)
    coef = m.coef_
    np.testing.assert_allclose(coef.to_numpy(), ref.params.drop("const").to_numpy(), atol=1e-8)
    assert m.intercept_ == pytest.approx(ref.params["const"], abs=1e-8)
    table = m.odds_ratio_table_.set_index(["variable", "level"])
    ci = np.exp(ref.conf_int())
    for col in coef.index:
        var, lev = (col.split("[")[0], col.split("[")[1][:-1]) if "[" in col else (col, "")
        row = table.loc[(var, lev)]
        assert row["multi_or"] == pytest.approx(np.exp(ref.params[col]), rel=1e-8)
        assert row["multi_or_low"] == pytest.approx(ci.loc[col, 0], rel=1e-8)
        assert row["multi_or_high"] == pytest.approx(ci.loc[col, 1], rel=1e-8)
        assert row["multi_p"] == pytest.approx(ref.pvalues[col], rel=1e-6, abs=1e-12)
    np.testing.assert_allclose(m.predict_proba(X)[:, 1], ref.predict(), atol=1e-10)
    np.testing.assert_allclose(m.decision_function(X), ref.predict(which="linear"), atol=1e-8)


def test_univariate_rows_and_group_p_equal_statsmodels(clinical):
    X, y = clinical
    m = ClinicalLogisticModel(univariate_p=None).fit(X, y)
    table = m.odds_ratio_table_.set_index(["variable", "level"])
    for var in X.columns:
        ref = sm.Logit(y, _dummies(X, [var], REFS)).fit(disp=0)
        for col in ref.params.index.drop("const"):
            lev = col.split("[")[1][:-1] if "[" in col else ""
            assert table.loc[(var, lev), "uni_or"] == pytest.approx(np.exp(ref.params[col]), rel=1e-8)
            assert table.loc[(var, lev), "uni_se"] == pytest.approx(ref.bse[col], rel=1e-6)
        names = list(ref.params.index.drop("const"))
        r = np.zeros((len(names), len(ref.params)))
        for i, name in enumerate(names):
            r[i, list(ref.params.index).index(name)] = 1.0
        joint = ref.wald_test(r, scalar=True)
        assert table.loc[var, "uni_group_p"].iloc[0] == pytest.approx(float(joint.pvalue), rel=1e-6)
    # The reference row of a categorical variable: OR 1, its level named.
    ref_row = m.odds_ratio_table_.query("variable == 'subtype' and is_reference")
    assert ref_row["level"].tolist() == ["HER2"] and ref_row["uni_or"].tolist() == [1.0]


def test_backward_drops_irrelevant_and_records_steps(clinical):
    X, y = clinical
    m = ClinicalLogisticModel(univariate_p=None, selection="backward").fit(X, y)
    removed = [s["removed"] for s in m.steps_]
    assert sorted(removed) == ["age", "noise", "side"]
    assert all(s["p"] >= 0.05 for s in m.steps_)
    # Each step removes the largest remaining p: the p-values of later steps were
    # smaller in the fit where the earlier term was removed -- re-run to check step 1.
    full = ClinicalLogisticModel(univariate_p=None, selection="none").fit(X, y)
    ps = full.odds_ratio_table_.groupby("variable", sort=False)["multi_group_p"].first()
    assert removed[0] == ps.idxmax()
    assert full.kept_ == list(X.columns) and full.steps_ == []
    # Deterministic: a refit follows the same path.
    again = ClinicalLogisticModel(univariate_p=None, selection="backward").fit(X, y)
    assert again.steps_ == m.steps_


def test_univariate_screen_and_categorical_group(clinical):
    X, y = clinical
    m = ClinicalLogisticModel(univariate_p=0.05, categorical={"subtype": "LumA"}).fit(X, y)
    table = m.odds_ratio_table_
    screened = table.groupby("variable", sort=False).agg(p=("uni_group_p", "first"),
                                                         entered=("entered", "first"))
    assert ((screened["p"] < 0.05) == screened["entered"]).all()
    assert set(m.entered_) == set(screened.index[screened["entered"]])
    sub = table[table["variable"] == "subtype"]
    assert sub["reference"].unique().tolist() == ["LumA"]
    assert sub["level"].tolist()[0] == "LumA" and len(sub) == 4
    assert not {"age", "side", "noise"} & set(m.entered_)  # OR exactly 1, p = 1
    everything = ClinicalLogisticModel(univariate_p=None, categorical={"subtype": "LumA"}).fit(X, y)
    assert [c for c in everything.coef_.index if c.startswith("subtype")] == [
        "subtype[HER2]", "subtype[LumB]", "subtype[TNBC]"]


def test_no_variable_passes_raise_or_best(rng):
    n = 200
    X = pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})
    y = rng.integers(0, 2, n)
    with pytest.raises(LogisticFitError, match=r"expected at least one term.*found no candidate "
                                                r"with univariate p < 1e-06.*empty_policy='best'"):
        ClinicalLogisticModel(univariate_p=1e-6, empty_policy="raise").fit(X, y)
    with pytest.warns(FallbackWarning, match="kept"):
        m = ClinicalLogisticModel(univariate_p=1e-6).fit(X, y)
    ps = m.odds_ratio_table_.set_index("variable")["uni_p"]
    assert m.kept_ == [ps.idxmin()] and "empty_policy 'best'" in m.fallback_
    with pytest.warns(FallbackWarning, match="removed every term"):
        m2 = ClinicalLogisticModel(univariate_p=None, selection="backward", stay_p=1e-6).fit(X, y)
    assert len(m2.kept_) == 1


def test_separation_raises_or_is_excluded(rng):
    n = 120
    X = pd.DataFrame({"x": rng.normal(size=n), "ki67": rng.choice(["low", "high"], n)})
    y = (rng.uniform(size=n) < _expit(X["x"])).astype(int)
    y[X["ki67"].to_numpy() == "low"] = 0  # quasi-complete separation: no event among "low"
    with pytest.raises(LogisticFitError, match=r"univariate: ki67.*expected a finite maximum-"
                                                r"likelihood fit; found .*separation.*Merge sparse"):
        ClinicalLogisticModel().fit(X, y)
    with pytest.warns(FallbackWarning, match="ki67"):
        m = ClinicalLogisticModel(on_separation="exclude").fit(X, y)
    assert list(m.excluded_) == ["ki67"] and "ki67" not in m.entered_
    assert m.odds_ratio_table_.query("variable == 'ki67'")["uni_or"].isna().all()


def test_input_errors_are_four_part(clinical):
    X, y = clinical
    bad = X.copy()
    bad.loc[3, "age"] = np.nan
    with pytest.raises(SchemaMismatchError, match=r"'age'.*expected a value for every patient.*"
                                                   r"Impute or drop"):
        ClinicalLogisticModel().fit(bad, y)
    with pytest.raises(NotFittedError, match="Call fit"):
        ClinicalLogisticModel().predict_proba(X)
    m = ClinicalLogisticModel(univariate_p=None, selection="backward").fit(X, y)
    new = X.copy()
    new.loc[0, "subtype"] = "Basal"
    with pytest.raises(SchemaMismatchError, match=r"'subtype'.*levels seen in training.*'Basal'"):
        m.predict_proba(new)
    with pytest.raises(SchemaMismatchError, match="reference level among"):
        ClinicalLogisticModel(categorical={"her2": "equivocal"}).fit(X, y)


def test_formula_reproduces_linear_predictor_and_csv(clinical, tmp_path):
    X, y = clinical
    Xc = X.assign(her2=X["her2"].map({"negative": "negative", "positive": "=positive"}))
    m = ClinicalLogisticModel(univariate_p=None, selection="backward").fit(Xc, y)
    text = m.formula(digits=12)
    terms = re.findall(r"([+-]) ([0-9.]+) × (\S+)", text)
    intercept = float(re.match(r"logit\(P\) = (-?[0-9.]+)", text).group(1))
    design = m.design_matrix(Xc)
    lp = intercept + sum((1 if s == "+" else -1) * float(b) * design[name] for s, b, name in terms)
    np.testing.assert_allclose(lp, m.decision_function(Xc), atol=1e-9)
    path = m.to_csv(tmp_path / "table2.csv")
    back = pd.read_csv(path, keep_default_na=False)
    assert list(back.columns) == list(m.odds_ratio_table_.columns)
    assert "'=positive" in back["level"].tolist()  # formula-like level neutralised
    assert float(back.loc[back["variable"] == "size", "multi_or"].iloc[0]) == pytest.approx(
        float(m.odds_ratio_table_.loc[m.odds_ratio_table_["variable"] == "size", "multi_or"]
              .iloc[0]), rel=1e-12)
