"""External-validation summaries and report files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from alnm_ray.score.report import (drift_text, external_validation, report_paths, summary_table,
                                   validation_text, write_reports)


def _preds(rng, n, cohort, labelled=True, one_class=False):
    y = np.zeros(n, int) if one_class else (rng.random(n) < 0.4).astype(int)
    p = np.clip(0.3 + 0.4 * y + rng.normal(0, 0.2, n), 0.01, 0.99)
    return pd.DataFrame({"cohort": cohort, "patient_id": [f"{cohort}{i}" for i in range(n)],
                         "label": pd.array(y if labelled else [pd.NA] * n, dtype="Int64"), "probability": p})


def test_one_summary_per_labelled_cohort_with_cis(rng):
    preds = pd.concat([_preds(rng, 60, "a"), _preds(rng, 40, "b"), _preds(rng, 20, "c", labelled=False),
                       _preds(rng, 10, "d", one_class=True)], ignore_index=True)
    validation = external_validation(preds, threshold=0.5, model_name="bid", n_boot=200, seed=1)
    assert set(validation) == {"a", "b", "d"}
    assert "labels of one class only" in validation["d"]["skipped"]
    a = validation["a"]["models"]["bid"]
    assert a["n"] == 60 and a["threshold"] == 0.5 and a["auc_ci_delong"][0] < a["auc"] < a["auc_ci_delong"][1]
    table = summary_table(validation)
    assert table["cohort"].tolist() == ["a", "b"] and table.loc[0, "auc"] == a["auc"]
    text = validation_text(validation)
    assert text.splitlines()[0].startswith("a: n=60") and "d: external validation skipped" in text


def test_reports_are_written_next_to_the_output(tmp_path, rng):
    validation = external_validation(_preds(rng, 50, "a"), threshold=0.4, model_name="bid", n_boot=200)
    drift = pd.DataFrame({"cohort": ["a"], "feature": ["T2WI__f"], "psi": [0.31], "psi_level": ["significant"],
                          "psi_pvalue_adjusted": [0.001], "ks_statistic": [0.2], "ks_pvalue_adjusted": [0.01],
                          "flagged": [True]})
    errors = pd.DataFrame({"stage": ["score"], "cohort": ["a"], "patient_id": ["p9"], "message": ["x"]})
    written = write_reports(tmp_path / "out.parquet", bundle_id="bid", validation=validation, drift=drift,
                            errors=errors)
    paths = report_paths(tmp_path / "out.parquet")
    assert set(written) == set(paths.values())
    assert json.loads(paths["drift.json"].read_text(encoding="utf-8"))["rows"][0]["feature"] == "T2WI__f"
    assert "| a | T2WI__f | 0.310 | significant" in paths["drift.md"].read_text(encoding="utf-8")
    assert pd.read_csv(paths["errors.csv"])["patient_id"].tolist() == ["p9"]
    assert "a: T2WI__f  PSI 0.310 (significant)" in drift_text(drift)
