"""The protocol report's Table 1: one table per set, by outcome, with the rules stated."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alnm_ray.report.baseline import baseline_table
from alnm_ray.report.protocol import _table1


def test_one_table_per_set_with_each_sets_own_test() -> None:
    rng = np.random.default_rng(3)
    n = 80
    cohort = pd.DataFrame({"patient_id": [f"P{i}" for i in range(n)], "label": np.tile([0, 1], n // 2),
                           "age": rng.normal(50, 10, n).round(1),
                           "er": np.where(rng.random(n) < 0.6, "positive", "negative")})
    sets = {"training": [f"P{i}" for i in range(56)], "external": [f"P{i}" for i in range(56, n)]}
    html = _table1(cohort, sets)
    assert "<h3>training (n = 56)</h3>" in html and "<h3>external (n = 24)</h3>" in html
    assert html.index("training (n = 56)") < html.index("external (n = 24)")
    assert "Shapiro–Wilk" in html and "Yates" in html and "Fisher" in html
    ext = cohort.iloc[56:]
    expected = baseline_table(ext.drop(columns=["patient_id"]))
    er = expected[expected.variable == "er"].iloc[0]
    a = ext.loc[ext.label == 0, "er"].value_counts().reindex(["negative", "positive"], fill_value=0)
    b = ext.loc[ext.label == 1, "er"].value_counts().reindex(["negative", "positive"], fill_value=0)
    assert er["test"] == "Fisher's exact"  # 24 patients: n < 40
    assert np.isclose(er["p"], stats.fisher_exact(np.c_[a.to_numpy(), b.to_numpy()]).pvalue)
    assert f"<td>{er['p_text']}</td>" in html


def test_no_clinical_variables_says_so() -> None:
    cohort = pd.DataFrame({"patient_id": ["a", "b", "c", "d"], "label": [0, 1, 0, 1]})
    assert "No clinical variables" in _table1(cohort, {"training": ["a", "b", "c", "d"]})
