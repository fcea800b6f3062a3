"""The baseline table: medians/IQR and n (%) per label, with p-values."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from alnm_ray.report.baseline import baseline_table


def test_baseline_table_numbers() -> None:
    cohort = pd.DataFrame({
        "patient_id": [f"P{i}" for i in range(8)],
        "label": [0, 0, 0, 0, 1, 1, 1, 1],
        "age": [40.0, 50, 60, 70, 45, 55, 65, 75],
        "ki67": ["high", "low", "low", "low", "high", "high", "high", "low"],
    })
    table = baseline_table(cohort)
    age = table[table.variable == "age"].iloc[0]
    assert age["ALNM− (n=4)"] == "55.0 [47.5, 62.5]"
    assert age["ALNM+ (n=4)"] == "60.0 [52.5, 67.5]"
    assert np.isclose(age["p"], stats.mannwhitneyu([40, 50, 60, 70], [45, 55, 65, 75]).pvalue)
    high = table[(table.level == "high")].iloc[0]
    assert high["ALNM− (n=4)"] == "1 (25.0%)" and high["ALNM+ (n=4)"] == "3 (75.0%)"
    # a 2x2 table with small expected counts uses Fisher's exact test
    assert np.isclose(high["p"], stats.fisher_exact([[3, 1], [1, 3]]).pvalue)
    assert list(table.columns) == ["variable", "level", "ALNM− (n=4)", "ALNM+ (n=4)", "p"]
