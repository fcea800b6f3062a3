"""``alnm-ray protocol list|show|check`` through the real CLI."""

from __future__ import annotations

import pandas as pd
from click.testing import CliRunner

from alnm_ray.cli.main import cli


def test_list_names_every_shipped_protocol():
    result = CliRunner().invoke(cli, ["protocol", "list"])
    assert result.exit_code == 0, result.output
    for name in ("guo2024", "liu2025", "gu2025"):
        assert name in result.output


def test_show_prints_a_copyable_file(tmp_path):
    result = CliRunner().invoke(cli, ["protocol", "show", "liu2025"])
    assert result.exit_code == 0 and "Table 3 shows the DeLong test results" in result.output
    copy = tmp_path / "mine.yaml"
    copy.write_text(result.output.replace("version: 1", "version: 2"), encoding="utf-8")
    checked = CliRunner().invoke(cli, ["protocol", "check", str(copy)])
    assert checked.exit_code == 0, checked.output
    assert "liu2025 v2" in checked.output


def test_check_reports_every_problem_at_once_and_exits_2(tmp_path):
    rows = [{"cohort": "c", "center": "h1", "patient_id": f"P{i}", "sequence": "MG_CC", "reader": "A",
             "image": f"P{i}.png", "mask": f"P{i}_m.png", "label": i % 2, "split": "train"} for i in range(4)]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    result = CliRunner().invoke(cli, ["protocol", "check", "guo2024", "--manifest", str(manifest)])
    assert result.exit_code == 2
    out = result.output
    assert "sequence(s) MG_MLO, T2WI, DWI, ADC, DCE_P2" in out
    assert "reader B" in out and "reader A2" in out and "split 'test'" in out


def test_check_names_the_closest_key_of_a_misspelt_file(tmp_path):
    text = CliRunner().invoke(cli, ["protocol", "show", "guo2024"]).output
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("  repeats: 20", "  repeat: 20"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["protocol", "check", str(bad)])
    assert result.exit_code == 2 and "Did you mean 'repeats'?" in result.output
