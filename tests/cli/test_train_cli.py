"""`tune --protocol` then `train --protocol` / `train --run`: the protocol's method, recorded by hash."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.protocol import load_protocol
from alnm_ray.protocol.load import shipped_text


def _load_factory():
    spec = importlib.util.spec_from_file_location(
        "_tune_store_factory_train", Path(__file__).resolve().parents[1] / "tune" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_store


make_store = _load_factory()


def _cli(*args: str):
    return CliRunner().invoke(cli, ["--quiet", *args])


@pytest.fixture
def small_protocol(tmp_path) -> str:
    """guo2024 with a small design: 1 x 3-fold CV, radiomics only, lr and 1-NN (a non-default parameter)."""
    data = yaml.safe_load(shipped_text("guo2024"))
    data["protocol"] = "guo2024-small"
    data["cv"] = {"repeats": 1, "folds": 3, "seed": 4}
    data["classifiers"] = {"models": {"lr": {}, "knn": {"n_neighbors": 1}}}
    data["feature_sets"] = {"pre": ["radiomics"]}
    data["selection"]["radiomics"].update({"lasso_repeats": 2, "lasso_folds": 3, "mrmr_k": 5})
    data["final_model"] = {"rule": "fixed", "feature_set": "radiomics", "classifier": "knn"}
    data["report"] = {}
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


@pytest.mark.ray
def test_tune_and_train_under_a_protocol(ray_local, tmp_path, small_protocol) -> None:
    made = make_store(tmp_path / "store", n=48, signal=1.0, split=True)
    store = str(tmp_path / "store")
    p = load_protocol(small_protocol)
    tuned = _cli("tune", "--store", store, "--out", str(tmp_path / "run"), "--protocol", small_protocol, "--json")
    assert tuned.exit_code == 0, tuned.output
    outcome = json.loads(tuned.stdout)
    assert outcome["protocol"] == {"name": "guo2024-small", "version": p.version, "hash": p.hash}
    run = json.loads((tmp_path / "run" / "run.json").read_text(encoding="utf-8"))
    assert run["protocol"]["hash"] == p.hash and run["classifier_params"] == {"knn": {"n_neighbors": 1}}
    assert run["repeats"] == 1 and run["folds"] == 3 and run["seed"] == 4 and run["holdout"] is None
    cohort = pd.read_csv(tmp_path / "run" / "cohort.csv")
    assert set(cohort["split"]) == {"train"}  # the CV saw the training split only
    assert run["cv_patients"] == len(cohort) < len(made["ids"])
    summary = pd.read_csv(tmp_path / "run" / "summary.csv")
    assert set(summary.classifier) == {"lr", "knn"} and set(summary.feature_set) == {"radiomics"}

    bundle = tmp_path / "bundle"
    trained = _cli("train", "--store", store, "--protocol", small_protocol, "--feature-set", "radiomics",
                   "--classifier", "knn", "--out", str(bundle), "--unsigned", "--explain-background", "0")
    assert trained.exit_code == 0, trained.output
    meta = json.loads((bundle / "metadata.json").read_text(encoding="utf-8"))
    assert meta["protocol"] == {"name": "guo2024-small", "version": p.version, "hash": p.hash}
    assert meta["classifier_params"] == {"n_neighbors": 1} and meta["seeds"]["classifier"] == 4
    assert meta["selection"]["config"]["lasso_repeats"] == 2 and meta["training"]["split"] == "train"

    from_run = _cli("train", "--run", str(tmp_path / "run"), "--feature-set", "radiomics", "--classifier", "knn",
                    "--out", str(tmp_path / "b2"), "--unsigned", "--explain-background", "0")
    assert from_run.exit_code == 0, from_run.output
    meta2 = json.loads((tmp_path / "b2" / "metadata.json").read_text(encoding="utf-8"))
    assert meta2["protocol"]["hash"] == p.hash and meta2["classifier_params"] == {"n_neighbors": 1}
    assert meta2["threshold"] == meta["threshold"]  # the same fit both ways


def test_train_protocol_refuses_conflicting_flags_and_foreign_runs(tmp_path, small_protocol) -> None:
    run = tmp_path / "other"
    run.mkdir()
    (run / "run.json").write_text(json.dumps({"store": "s", "classifiers": ["knn"], "feature_sets": ["radiomics"],
                                              "protocol": {"name": "guo2024", "hash": "ab" * 32}}), encoding="utf-8")
    result = _cli("train", "--store", str(tmp_path / "s"), "--protocol", small_protocol, "--run", str(run),
                  "--feature-set", "radiomics", "--classifier", "knn", "--param", "n_neighbors=5", "--reader", "B",
                  "--out", str(tmp_path / "b"), "--unsigned")
    assert result.exit_code == 2, result.output
    assert "3 flag(s) the protocol decides" in result.output
    assert "--param: expected no --param with --protocol guo2024-small (its classifiers.models decides it)" \
        in result.output
    assert "--reader: expected no --reader" in result.output
    assert f"--run {run}: expected a `tune --protocol guo2024-small` run" in result.output
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize(("feature_set", "classifier", "text"), [
    ("deep", "knn", "expected one of protocol guo2024-small's feature sets (radiomics); got 'deep'"),
    ("radiomics", "svm", "expected one of protocol guo2024-small's classifiers (lr, knn); got 'svm'"),
])
def test_train_protocol_refuses_models_the_protocol_does_not_fit(tmp_path, small_protocol, feature_set,
                                                                 classifier, text) -> None:
    result = _cli("train", "--store", str(tmp_path / "s"), "--protocol", small_protocol, "--feature-set",
                  feature_set, "--classifier", classifier, "--out", str(tmp_path / "b"), "--unsigned")
    assert result.exit_code == 2 and text in result.output, result.output
