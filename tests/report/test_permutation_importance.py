"""The tune report shows hold-out permutation importance when the run folder has it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd

from alnm_ray.model.permutation import PERMUTATION_FILE
from alnm_ray.report import build_report

TITLE = "<h2>Permutation importance (hold-out test set)</h2>"


def test_section_appears_with_the_best_classifier_s_features(run_folder: Path, tmp_path: Path) -> None:
    assert TITLE not in build_report(run_folder, tmp_path / "plain.html", n_boot=50).read_text(encoding="utf-8")
    run = tmp_path / "run"
    shutil.copytree(run_folder, run)
    rows = [{"feature_set": fs, "classifier": clf, "feature": f"{fs}_f{j}", "auc_drop_mean": 0.1 / (j + 1),
             "auc_drop_sd": 0.01} for fs in ("radiomics", "deep", "combined") for clf in ("lr", "nb")
            for j in range(3)]
    pd.DataFrame(rows).to_csv(run / PERMUTATION_FILE, index=False)
    html = build_report(run, tmp_path / "r.html", n_boot=50).read_text(encoding="utf-8")
    section = html.split(TITLE, 1)[1].split("</section>", 1)[0]
    assert section.count("data:image/png;base64,") == 3  # one plot per feature set
    assert "<td>radiomics_f0</td>" in section and "0.1000" in section
    assert section.count("<td>radiomics</td>") == 3  # only the best classifier of the set
