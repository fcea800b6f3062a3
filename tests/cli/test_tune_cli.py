"""`alnm-ray tune`: the real CLI path (Ray Tune), store tables via `alnm-ray sql`, clean errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore


def _load_factory():
    """The tune tests' store factory (tests/tune/conftest.py), under a private module name."""
    spec = importlib.util.spec_from_file_location(
        "_tune_store_factory", Path(__file__).resolve().parents[1] / "tune" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_store


make_store = _load_factory()


def _tune(*args: str):
    return CliRunner().invoke(cli, ["--quiet", "tune", *args])


@pytest.fixture
def selection_yaml(tmp_path) -> str:
    path = tmp_path / "sel.yaml"
    path.write_text(yaml.safe_dump({"preset": "guo2024", "lasso_repeats": 2, "lasso_folds": 3}), encoding="utf-8")
    return str(path)


@pytest.mark.ray
def test_tune_runs_resumes_and_its_tables_are_queryable(ray_local, tmp_path, selection_yaml) -> None:
    store = str(tmp_path / "store")
    make_store(store, n=50, signal=1.0, unlabelled=2)
    args = ["--store", store, "--out", str(tmp_path / "run"), "--feature-sets", "radiomics,clinical",
            "--classifiers", "lr,nb", "--repeats", "2", "--folds", "3", "--selection", selection_yaml,
            "--no-external"]
    first = _tune(*args)
    assert first.exit_code == 0, first.output
    assert "0 reused" in first.output and "AUC" in first.output and "radiomics" in first.output
    assert "cv_results@" in first.output
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert set(summary.feature_set) == {"radiomics", "clinical"} and set(summary.classifier) == {"lr", "nb"}
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert run["excluded_unlabelled"] == 2 and run["selection"]["lasso_repeats"] == 2
    assert (tmp_path / "run" / "alnm-ray.log").is_file()
    again = _tune(*args, "--json")
    assert again.exit_code == 0, again.output
    outcome = json.loads(again.stdout)
    assert outcome["computed"] == 0 and outcome["reused"] == outcome["units"] and outcome["complete"]
    assert len(outcome["summary"]) == 4
    sql = CliRunner().invoke(cli, ["--quiet", "sql", "--store", store, "--format", "csv",
                                   "SELECT feature_set, classifier, avg(auc) AS auc, count(*) AS n "
                                   "FROM cv_results GROUP BY ALL ORDER BY ALL"])
    assert sql.exit_code == 0, sql.output
    lines = sql.stdout.strip().splitlines()
    assert len(lines) == 5 and all(line.endswith(",6") for line in lines[1:])
    other = _tune(*[a if a != "2" else "3" for a in args])  # different settings, same --out
    assert other.exit_code == 2 and "holds another sweep" in other.output


def test_unknown_feature_set_is_a_clean_error_with_a_suggestion(tmp_path) -> None:
    store = str(tmp_path / "store")
    make_store(store, n=30)
    result = _tune("--store", store, "--out", str(tmp_path / "run"), "--feature-sets", "radiomcs")
    assert result.exit_code == 2 and "Did you mean 'radiomics'" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_empty_store_no_labels_one_class_and_flag_misuse(tmp_path) -> None:
    empty = _tune("--store", str(tmp_path / "none"), "--out", str(tmp_path / "r1"))
    assert empty.exit_code == 2 and "expected feature tables" in empty.output
    store = FeatureStore(str(tmp_path / "nolabel"))
    store.write_version("mytable", pd.DataFrame({"patient_id": ["a", "b"], "x": [1.0, 2.0]}))
    nolabel = _tune("--store", store.uri, "--out", str(tmp_path / "r2"), "--feature-sets", "mytable")
    assert nolabel.exit_code == 2 and "no table has a 'label' column" in nolabel.output
    make_store(str(tmp_path / "one"), n=30, one_class=True)
    one = _tune("--store", str(tmp_path / "one"), "--out", str(tmp_path / "r3"), "--feature-sets", "deep")
    assert one.exit_code == 2 and "expected both classes" in one.output
    misuse = _tune("--store", store.uri, "--out", str(tmp_path / "r4"), "--samples", "5")
    assert misuse.exit_code == 2 and "--search random" in misuse.output
    bad_clf = _tune("--store", store.uri, "--out", str(tmp_path / "r5"), "--classifiers", "lr,xgbost")
    assert bad_clf.exit_code == 2 and "Did you mean 'xgboost'" in bad_clf.output


def test_protocol_refuses_every_flag_it_decides_before_any_work(tmp_path) -> None:
    out = tmp_path / "run"
    result = _tune("--store", str(tmp_path / "none"), "--out", str(out), "--protocol", "guo2024",
                   "--repeats", "5", "--classifiers", "lr,nb", "--no-holdout", "--preset", "guo2024")
    assert result.exit_code == 2, result.output
    assert "4 flag(s) the protocol decides" in result.output
    assert ("--repeats: expected no --repeats with --protocol guo2024 (its cv.repeats decides it); got "
            "--repeats 5. Drop --repeats, or change the value in a copy of the protocol") in result.output
    assert "got --classifiers lr,nb" in result.output and "--holdout/--no-holdout" in result.output
    assert "--preset: expected no --preset" in result.output
    assert not out.exists() and not (tmp_path / "none").exists()


def test_protocol_unknown_name_suggests_a_shipped_one(tmp_path) -> None:
    result = _tune("--store", str(tmp_path / "s"), "--out", str(tmp_path / "run"), "--protocol", "guo2042")
    assert result.exit_code == 2 and "Did you mean 'guo2024'" in result.output
