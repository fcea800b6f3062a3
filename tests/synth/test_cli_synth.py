"""``alnm-ray synth`` end to end (lives here with the generator's tests)."""

from __future__ import annotations

import json

import pandas as pd
from click.testing import CliRunner

from alnm_ray.cli._errors import EXIT_USER_ERROR
from alnm_ray.cli.main import cli


def test_synth_writes_a_valid_four_patient_two_centre_cohort(tmp_path):
    out = tmp_path / "cohort"
    result = CliRunner().invoke(cli, ["-q", "synth", str(out), "--patients", "4", "--centers", "2",
                                      "--seed", "3"])
    assert result.exit_code == 0, result.output
    assert "wrote 4 patients" in result.output and "oracle AUC" in result.output
    summary = json.loads((out / "cohort.json").read_text(encoding="utf-8"))
    assert summary["n_patients"] == 4 and set(summary["counts"]["per_center"]) == {"C1", "C2"}
    manifest = pd.read_csv(out / "manifest.csv")
    assert len(manifest) == 6 * (4 + 2 * 4)  # 4 < 30: every patient gets B and A2 masks
    check = CliRunner().invoke(cli, ["validate", str(out / "manifest.csv"), "--clinical",
                                     str(out / "clinical.csv")])
    assert check.exit_code == 0, check.output


def test_bad_options_give_a_clear_error_and_no_files(tmp_path):
    runner = CliRunner()
    out = tmp_path / "x"
    zero = runner.invoke(cli, ["synth", str(out), "--patients", "0"])
    assert zero.exit_code == EXIT_USER_ERROR
    assert "patients: expected an integer >= 1; got 0" in zero.output and "Traceback" not in zero.output
    many = runner.invoke(cli, ["synth", str(out), "--patients", "3", "--centers", "5"])
    assert many.exit_code == EXIT_USER_ERROR and "lower --centers or raise --patients" in many.output
    signal = runner.invoke(cli, ["synth", str(out), "--patients", "3", "--signal", "9"])
    assert signal.exit_code == EXIT_USER_ERROR and "signal (--signal)" in signal.output
    size = runner.invoke(cli, ["synth", str(out), "--size", "huge"])
    assert size.exit_code == EXIT_USER_ERROR and "huge" in size.output
    assert not out.exists()


def test_refuses_a_non_empty_folder_without_overwrite(tmp_path):
    (tmp_path / "data.csv").write_text("x", encoding="utf-8")
    result = CliRunner().invoke(cli, ["synth", str(tmp_path), "--patients", "1", "--centers", "1"])
    assert result.exit_code == EXIT_USER_ERROR and "--overwrite" in result.output
