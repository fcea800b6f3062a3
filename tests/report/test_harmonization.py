"""The report's "Centre harmonisation (ComBat)" section: per-centre distributions of a few features
before and after ComBat, from the selection record a real in-fold fit writes."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from alnm_ray.exceptions import FallbackWarning
from alnm_ray.model import fit_selection
from alnm_ray.model.inputs import prepare_metadata
from alnm_ray.report import build_report
from alnm_ray.report.harmonization import harmonization_section
from alnm_ray.select import SelectionConfig
from alnm_ray.tune.trial import HARMONIZATION_FEATURES, selection_record

COMBAT = SelectionConfig(name="combat-report", icc_threshold=None, smote=False, zscore=True,
                         steps=("univariate",), harmonize="combat")


def _record(seed: int = 0) -> tuple[dict, pd.DataFrame, pd.Series]:
    rng = np.random.default_rng(seed)
    n, p = 90, 10
    centres = pd.Series(np.repeat(["A", "B", "C"], n // 3), index=[f"P{i:03d}" for i in range(n)])
    y = rng.permutation(np.arange(n) % 2)
    X = pd.DataFrame(rng.normal(size=(n, p)), index=centres.index,
                     columns=[f"T2WI__original_firstorder_F{j}" for j in range(p)])
    X[centres.to_numpy() == "B"] += 4.0  # centre B's scanner shifts every feature
    X.iloc[:, 0] += 1.5 * y  # one real signal, for the selection to keep
    train = centres.index[::3].union(centres.index[1::3])  # two thirds: the training rows
    meta = prepare_metadata(COMBAT, X.index, centres)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FallbackWarning)
        sel = fit_selection(X.loc[train], y[np.isin(X.index, train)], COMBAT, metadata=meta)
    return selection_record(sel.pipeline, X.loc[train], sel.metadata), X.loc[train], centres.loc[train]


def test_the_record_holds_training_rows_and_the_shift_is_gone_after() -> None:
    record, X_train, centres = _record()
    harm = record["harmonization"]
    assert harm["patients"] == list(X_train.index) and harm["centers"] == centres.tolist()
    assert harm["n_per_center"] == {"A": 20, "B": 20, "C": 20}
    assert len(harm["features"]) == HARMONIZATION_FEATURES
    assert harm["features"][0] in [s for s in X_train.columns if s.endswith("F0")]  # the selected one first
    for f in harm["features"]:
        before = pd.Series(harm["before"][f]).groupby(harm["centers"]).mean()
        after = pd.Series(harm["after"][f]).groupby(harm["centers"]).mean()
        assert np.ptp(before) > 3.0 and np.ptp(after) < np.ptp(before) / 4
        np.testing.assert_allclose(harm["before"][f], X_train[f].to_numpy())


def test_tune_report_shows_the_section_only_when_a_run_harmonised(run_folder: Path, tmp_path: Path) -> None:
    plain = build_report(run_folder, tmp_path / "plain.html", n_boot=50).read_text(encoding="utf-8")
    assert "Centre harmonisation (ComBat)" not in plain
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    record, _, _ = _record()
    (run / "selection" / "radiomics.json").write_text(json.dumps(record), encoding="utf-8")
    html = build_report(run, tmp_path / "r.html", n_boot=50).read_text(encoding="utf-8")
    assert "<h2>Centre harmonisation (ComBat)</h2>" in html
    section = html.split("<h2>Centre harmonisation (ComBat)</h2>", 1)[1].split("</section>", 1)[0]
    assert section.count("data:image/png;base64,") == 1
    assert "before (left) and after (right) ComBat" in section and "<td>B</td><td>20</td>" in section


def test_section_is_empty_without_a_combat_record() -> None:
    assert harmonization_section({"radiomics": {"steps": [{"step": "input", "n": 3}], "lasso": None}}) == ""
