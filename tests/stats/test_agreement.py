"""McNemar, Cohen's kappa and the reader-study table against reference implementations."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.contingency_tables import mcnemar as sm_mcnemar
from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa
from statsmodels.stats.proportion import proportion_confint

from alnm_ray.exceptions import ConfigError
from alnm_ray.stats import (
    InvalidPredictionsError,
    cohen_kappa,
    delong_ci,
    delong_test,
    mcnemar_test,
    reader_study,
)
from alnm_ray.stats.agreement import MCNEMAR_EXACT_BELOW


def _paired(rng, n, flip):
    a = rng.integers(0, 2, n)
    return a, np.where(rng.uniform(size=n) < flip, 1 - a, a)


def _table(a, b):
    return np.array([[np.sum((a == 1) & (b == 1)), np.sum((a == 1) & (b == 0))],
                     [np.sum((a == 0) & (b == 1)), np.sum((a == 0) & (b == 0))]])


@pytest.mark.parametrize("n, flip", [(30, 0.2), (60, 0.15), (400, 0.3), (300, 0.5)])
def test_mcnemar_matches_statsmodels(rng, n, flip):
    a, b = _paired(rng, n, flip)
    ours = mcnemar_test(a, b)
    discordant = ours.b + ours.c
    exact = discordant < MCNEMAR_EXACT_BELOW
    ref = sm_mcnemar(_table(a, b), exact=exact, correction=True)
    assert ours.method == ("exact" if exact else "chi2")
    assert ours.statistic == pytest.approx(ref.statistic, rel=1e-12)
    assert ours.p == pytest.approx(ref.pvalue, rel=1e-10)
    for method, flag in (("exact", True), ("chi2", False)):
        forced = mcnemar_test(a, b, method=method)
        assert forced.p == pytest.approx(sm_mcnemar(_table(a, b), exact=flag).pvalue, rel=1e-10)


def test_mcnemar_rule_boundary_and_errors():
    # 24 discordant pairs -> exact; 25 -> chi-square.
    a24 = np.r_[np.ones(20), np.zeros(4), np.ones(10)]
    b24 = np.r_[np.zeros(20), np.ones(4), np.ones(10)]
    assert mcnemar_test(a24, b24).method == "exact"
    a25, b25 = np.r_[a24, 1], np.r_[b24, 0]
    assert mcnemar_test(a25, b25).method == "chi2"
    assert mcnemar_test([1, 0], [1, 0]).p == 1.0
    with pytest.raises(InvalidPredictionsError, match="expected 3 calls"):
        mcnemar_test([0, 1, 1], [0, 1])
    with pytest.raises(InvalidPredictionsError, match="coded 0"):
        mcnemar_test([0, 2], [0, 1])
    with pytest.raises(ConfigError, match="Did you mean 'exact'"):
        mcnemar_test([0, 1], [0, 1], method="exakt")


@pytest.mark.parametrize("k", [2, 3, 4])
def test_kappa_matches_sklearn_and_statsmodels_interval(rng, k):
    a = rng.integers(0, k, 120)
    b = np.where(rng.uniform(size=120) < 0.55, a, rng.integers(0, k, 120))
    ours = cohen_kappa(a, b)
    assert ours.kappa == pytest.approx(cohen_kappa_score(a, b), rel=1e-12)
    ref = sm_kappa(pd.crosstab(a, b).to_numpy())
    assert ours.se == pytest.approx(ref.std_kappa, rel=1e-10)
    assert (ours.low, ours.high) == pytest.approx((ref.kappa_low, ref.kappa_upp), rel=1e-10)


def test_kappa_edge_cases():
    perfect = cohen_kappa([0, 1, 1, 0], [0, 1, 1, 0])
    assert perfect.kappa == 1.0 and perfect.se == 0.0
    same = cohen_kappa([1, 1, 1], [1, 1, 1])
    assert np.isnan(same.kappa) and same.po == 1.0
    text = cohen_kappa(["pos", "neg", "pos"], ["pos", "neg", "neg"])
    assert text.kappa == pytest.approx(cohen_kappa_score(["pos", "neg", "pos"],
                                                         ["pos", "neg", "neg"]))
    with pytest.raises(InvalidPredictionsError, match="same items"):
        cohen_kappa([0, 1], [0])


@pytest.fixture
def study(rng):
    n = 117
    y = (rng.uniform(size=n) < 0.45).astype(int)

    def read(flip):
        return np.where(rng.uniform(size=n) < flip, 1 - y, y)

    return pd.DataFrame({"alnm": y, "junior": read(0.30), "junior_ai": read(0.18),
                         "senior": read(0.24), "senior_ai": read(0.12)})


def test_reader_study_table(study):
    readers = {"junior": ("junior", "junior_ai"), "senior": ("senior", "senior_ai")}
    out = reader_study(study, readers, "alnm")
    assert out[["reader", "metric"]].values.tolist() == [
        [r, m] for r in ("junior", "senior")
        for m in ("sensitivity", "specificity", "accuracy", "auc")] + [["junior vs senior",
                                                                          "kappa"]]
    y = study["alnm"].to_numpy()
    rows = out.set_index(["reader", "metric"])
    for reader, (c0, c1) in readers.items():
        x0, x1 = study[c0].to_numpy(), study[c1].to_numpy()
        sens = rows.loc[(reader, "sensitivity")]
        assert sens["n"] == y.sum() and sens["without"] == pytest.approx(x0[y == 1].mean())
        assert sens["p"] == pytest.approx(mcnemar_test(x0[y == 1], x1[y == 1]).p)
        spec = rows.loc[(reader, "specificity")]
        assert spec["with"] == pytest.approx(1 - x1[y == 0].mean())
        assert spec["p"] == pytest.approx(mcnemar_test(x0[y == 0], x1[y == 0]).p)
        acc = rows.loc[(reader, "accuracy")]
        assert acc["with"] == pytest.approx((x1 == y).mean())
        assert acc["p"] == pytest.approx(
            mcnemar_test((x0 == y).astype(int), (x1 == y).astype(int)).p)
        low, high = proportion_confint(int((x1 == y).sum()), y.size, method="wilson")
        assert (acc["with_low"], acc["with_high"]) == pytest.approx((low, high))
        auc = rows.loc[(reader, "auc")]
        assert auc["without"] == pytest.approx((x0[y == 1].mean() + 1 - x0[y == 0].mean()) / 2)
        assert auc["with_low"] == pytest.approx(delong_ci(y, x1).low)
        assert auc["p"] == pytest.approx(delong_test(y, x1, x0).p)
        assert auc["difference"] == pytest.approx(auc["with"] - auc["without"])
    kap = rows.loc[("junior vs senior", "kappa")]
    assert kap["without"] == pytest.approx(cohen_kappa_score(study["junior"], study["senior"]))
    assert kap["with"] == pytest.approx(cohen_kappa_score(study["junior_ai"], study["senior_ai"]))
    assert np.isnan(kap["p"])


def test_reader_study_errors(study):
    with pytest.raises(InvalidPredictionsError, match=r"missing 'nobody_ai'.*Name each reader"):
        reader_study(study, {"x": ("junior", "nobody_ai")}, "alnm")
    bad = study.assign(junior_ai=2)
    with pytest.raises(InvalidPredictionsError, match="junior_ai"):
        reader_study(bad, {"junior": ("junior", "junior_ai")}, "alnm")
