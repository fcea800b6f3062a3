"""Summaries of cv_results: mean ± SD per feature set x classifier, in request order."""

from __future__ import annotations

import numpy as np
import pandas as pd

from alnm_ray.tune.outputs import format_summary, summarize


def test_summary_means_and_sds_follow_the_requested_order() -> None:
    cv = pd.DataFrame({"feature_set": ["b"] * 4 + ["a"] * 4, "classifier": ["lr", "lr", "nb", "nb"] * 2,
                       "auc": [0.6, 0.8, 0.5, 0.5, 0.7, 0.9, np.nan, 0.4], "f1": 0.5, "accuracy": 0.5,
                       "sensitivity": 0.5, "specificity": 0.5, "ppv": 0.5, "npv": 0.5, "threshold": 0.3})
    s = summarize(cv, ["b", "a"], ["nb", "lr"])
    assert list(zip(s.feature_set, s.classifier)) == [("b", "nb"), ("b", "lr"), ("a", "nb"), ("a", "lr")]
    row = s[(s.feature_set == "b") & (s.classifier == "lr")].iloc[0]
    assert np.isclose(row.auc_mean, 0.7) and np.isclose(row.auc_sd, np.std([0.6, 0.8], ddof=1))
    assert s[(s.feature_set == "a") & (s.classifier == "nb")].iloc[0].auc_mean == 0.4  # NaN fold skipped
    text = format_summary(s)
    assert "0.700 ± 0.141" in text and text.splitlines()[0].split()[:3] == ["feature", "set", "classifier"]
