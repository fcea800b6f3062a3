"""The HTML report: content from a real run folder, and a real browser renders it cleanly."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.report import RunFolderError, build_report

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_report_sections_and_numbers(run_folder: Path, tmp_path: Path) -> None:
    out = build_report(run_folder, tmp_path / "r.html", n_boot=200)
    html = out.read_text(encoding="utf-8")
    for heading in ("Overview", "Cohort", "Feature selection", "Cross-validation", "Hold-out test set",
                    "Model comparisons (DeLong, NRI, IDI)", "External validation by centre", "Provenance"):
        assert f"<h2>{heading}</h2>" in html
    assert "Baseline characteristics by ALNM status" in html and "ki67" in html
    assert html.count("data:image/png;base64,") >= 8  # ROC, calibration, DCA, waterfall, LASSO, weights, centres
    assert re.search(r"AUC \(95% CI, DeLong\)", html)
    assert re.search(r"\d\.\d{3} \(\d\.\d{3}–\d\.\d{3}\)", html)
    assert "http://" not in html.replace("http://www.w3.org", "") and "<script" not in html  # self-contained


def test_missing_run_files_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="expected a run folder written by 'alnm-ray tune'"):
        build_report(tmp_path)
    result = CliRunner().invoke(cli, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "missing run.json, cv_results.parquet" in result.output


@pytest.mark.browser
def test_report_renders_in_headless_chromium(run_folder: Path, tmp_path: Path) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    out = build_report(run_folder, tmp_path / "report.html", n_boot=200)
    shot = tmp_path / "shot.png"
    proc = subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                           "--enable-logging=stderr", "--v=0", f"--screenshot={shot}", "--window-size=1280,2400",
                           out.as_uri()], capture_output=True, text=True, encoding="utf-8", timeout=120)
    assert shot.exists() and shot.stat().st_size > 20_000, proc.stderr[-2000:]
    console = [line for line in proc.stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]
    assert console == [], console
