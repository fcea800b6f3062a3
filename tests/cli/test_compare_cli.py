"""``alnm-ray compare`` on real prediction files."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.stats import delong_test, load_compare_schema, roc_auc


@pytest.fixture
def predictions(tmp_path: Path, rng) -> tuple[Path, pd.DataFrame]:
    n = 80
    y = (rng.uniform(size=n) < 0.45).astype(int)
    y[:2] = [0, 1]
    z = rng.normal(size=n)
    df = pd.DataFrame({
        "patient_id": [f"P{i:03d}" for i in range(n)],
        "alnm": y,
        "radiomics_lr": 1 / (1 + np.exp(-(1.6 * (y - 0.45) + 0.6 * z + rng.normal(size=n)))),
        "deep_mlp": 1 / (1 + np.exp(-(0.8 * (y - 0.45) + 0.6 * z + rng.normal(size=n)))),
    })
    path = tmp_path / "preds.csv"
    df.to_csv(path, index=False)
    return path, df


def _run(*args: str):
    return CliRunner().invoke(cli, ["compare", *args])


def test_json_output_follows_schema(predictions, tmp_path) -> None:
    path, df = predictions
    out = tmp_path / "cmp.json"
    result = _run(str(path), "--label", "alnm", "--model", "radiomics_lr", "--model", "deep_mlp",
                  "--format", "json", "--out", str(out), "--n-boot", "200", "--seed", "5")
    assert result.exit_code == 0, result.output
    assert "wrote json comparison of 2 model(s) on 80 patients" in result.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    jsonschema.validate(doc, load_compare_schema(), cls=jsonschema.Draft202012Validator)
    assert list(doc["models"]) == ["radiomics_lr", "deep_mlp"]
    assert doc["models"]["deep_mlp"]["auc"] == pytest.approx(roc_auc(df.alnm, df.deep_mlp))
    comp = doc["comparisons"][0]
    t = delong_test(df.alnm, df.radiomics_lr, df.deep_mlp)
    assert (comp["a"], comp["b"]) == ("radiomics_lr", "deep_mlp")
    assert comp["delong_z"] == pytest.approx(t.z) and comp["delong_p"] == pytest.approx(t.p)
    assert doc["meta"]["n_boot"] == 200 and doc["meta"]["seed"] == 5 and doc["meta"]["label"] == "alnm"


def test_table_to_stdout(predictions) -> None:
    path, _ = predictions
    result = _run(str(path), "--label", "alnm", "--model", "radiomics_lr", "--model", "deep_mlp",
                  "--n-boot", "200", "--threshold", "0.5", "--nri-cutoff", "0.3", "--nri-cutoff", "0.6")
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[3].split() == ["metric", "radiomics_lr", "deep_mlp"]
    assert "0.500 (given)" in result.output
    assert "NRI cat.[0.3,0.6]" in result.output


def test_parquet_input(predictions, tmp_path) -> None:
    _, df = predictions
    path = tmp_path / "preds.parquet"
    df.to_parquet(path)
    result = _run(str(path), "--label", "alnm", "--model", "deep_mlp", "--format", "json",
                  "--n-boot", "200")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["comparisons"] == []


def _write(tmp_path: Path, df: pd.DataFrame) -> str:
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    return str(path)


def test_missing_column_suggests(predictions) -> None:
    path, _ = predictions
    result = _run(str(path), "--label", "alnm", "--model", "radiomic_lr")
    assert result.exit_code == 2
    assert "--model column 'radiomic_lr' not found" in result.output
    assert "Did you mean 'radiomics_lr'?" in result.output and "Traceback" not in result.output


def test_labels_not_binary(predictions, tmp_path) -> None:
    _, df = predictions
    df = df.assign(alnm=df.alnm.map({0: "neg", 1: "pos"}))
    result = _run(_write(tmp_path, df), "--label", "alnm", "--model", "deep_mlp")
    assert result.exit_code == 2
    assert "alnm: expected outcomes coded 0 (no event) and 1 (event)" in result.output
    assert "'neg', 'pos'" in result.output


def test_probability_out_of_range_names_csv_line(predictions, tmp_path) -> None:
    _, df = predictions
    df.loc[6, "deep_mlp"] = 1.7
    result = _run(_write(tmp_path, df), "--label", "alnm", "--model", "deep_mlp")
    assert result.exit_code == 2
    assert "deep_mlp: expected probabilities in [0, 1]" in result.output
    assert "CSV line(s) 8" in result.output  # header is line 1, row 6 is line 8


def test_nan_is_reported_not_dropped(predictions, tmp_path) -> None:
    _, df = predictions
    df.loc[[3, 10], "radiomics_lr"] = np.nan
    result = _run(_write(tmp_path, df), "--label", "alnm", "--model", "radiomics_lr")
    assert result.exit_code == 2
    assert "2 NaN/infinite value(s) at CSV line(s) 5, 12" in result.output
    assert "never dropped silently" in result.output


def test_single_class(predictions, tmp_path) -> None:
    _, df = predictions
    result = _run(_write(tmp_path, df.assign(alnm=1)), "--label", "alnm", "--model", "deep_mlp")
    assert result.exit_code == 2
    assert "expected both outcomes (0 and 1) to be present; got only 1" in result.output


def test_duplicate_and_label_as_model(predictions) -> None:
    path, _ = predictions
    result = _run(str(path), "--label", "alnm", "--model", "deep_mlp", "--model", "deep_mlp")
    assert result.exit_code == 2 and "['deep_mlp'] repeated" in result.output
    result = _run(str(path), "--label", "alnm", "--model", "alnm")
    assert result.exit_code == 2 and "label column 'alnm' as a model" in result.output


def test_unparseable_file(tmp_path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    result = _run(str(path), "--label", "a", "--model", "b")
    assert result.exit_code == 2 and "could not parse it" in result.output


def test_too_few_replicates_is_refused_with_the_option_named(predictions) -> None:
    path, _ = predictions
    result = _run(str(path), "--label", "alnm", "--model", "deep_mlp", "--n-boot", "1")
    assert result.exit_code == 2
    assert "--n-boot: expected at least 200 bootstrap replicates" in result.output
    assert "got 1. Pass --n-boot 200 or more" in result.output and "Traceback" not in result.output


def test_non_numeric_message_lists_only_the_offending_values(predictions, tmp_path) -> None:
    _, df = predictions
    col = df.deep_mlp.round(4).astype(object)
    col[[3, 7, 9]] = ["abc", "n.a.", "abc"]
    result = _run(_write(tmp_path, df.assign(deep_mlp=col)), "--label", "alnm", "--model", "deep_mlp")
    assert result.exit_code == 2
    assert ("deep_mlp: expected numeric predicted probabilities; got non-numeric values "
            "'abc', 'n.a.' at CSV line(s) 5, 9, 11.") in result.output
    valid = f"{df.deep_mlp.round(4)[0]:g}"
    assert valid not in result.output  # a valid value is never listed among the offending ones


def test_large_input_reports_progress_as_plain_lines(tmp_path, rng) -> None:
    n = 30_000
    y = (rng.uniform(size=n) < 0.3).astype(int)
    p = np.clip(0.3 + 0.3 * (y - 0.3) + rng.normal(0, 0.2, n), 0, 1).round(3)
    path = tmp_path / "big.csv"
    pd.DataFrame({"y": y, "p": p}).to_csv(path, index=False)
    result = CliRunner().invoke(cli, ["compare", str(path), "--label", "y", "--model", "p",
                                      "--format", "json"])
    assert result.exit_code == 0, result.output
    assert "bootstrap replicates  2000/2000 100%" in result.stderr
    assert "\r" not in result.stderr  # not a terminal: plain lines
    doc = json.loads(result.stdout)
    low, high = doc["models"]["p"]["auc_ci_bootstrap"]
    assert low <= doc["models"]["p"]["auc"] <= high
    quiet = CliRunner().invoke(cli, ["--quiet", "compare", str(path), "--label", "y", "--model", "p",
                                     "--format", "json"])
    assert quiet.exit_code == 0 and "bootstrap replicates" not in quiet.stderr
