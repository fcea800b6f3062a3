"""MLflow tracking against a real local file-based store (mlflow-skinny, no mocks)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from alnm_ray.exceptions import ConfigError
from alnm_ray.tracking import import_optional, log_bundle, log_report, log_tune_run

mlflow = pytest.importorskip("mlflow", reason="the mlflow extra (mlflow-skinny) is not installed")


@pytest.fixture
def uri(tmp_path, monkeypatch):
    # MLflow 3 keeps the file store for local use behind this switch (its database store needs the full server).
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    return (tmp_path / "mlruns").as_uri()


@pytest.fixture(scope="module")
def bundle_path(tmp_path_factory):
    from alnm_ray.score.train import TrainConfig, train_bundle
    from alnm_ray.store import FeatureStore

    rng = np.random.default_rng(1)
    rows = []
    for p in range(40):
        y, v = p % 2, rng.normal(size=4)
        v[0] += 1.5 * y
        rows.append({"cohort": "c", "center": "c1", "patient_id": f"p{p:03d}", "sequence": "T2WI", "reader": "A",
                     "label": y, **{f"original_firstorder_F{i}": float(x) for i, x in enumerate(v)}})
    root = tmp_path_factory.mktemp("track")
    store = FeatureStore(root / "store")
    store.write_version("radiomics", pd.DataFrame(rows))
    selection = {"preset": "guo2024", "icc_threshold": None, "lasso_repeats": 2, "lasso_folds": 3, "mrmr_k": 3}
    train_bundle(store, TrainConfig("radiomics", "lr", selection=selection, split=None), str(root / "b"))
    return root / "b", store


def test_bundle_logged_as_a_pyfunc_model_that_verifies_on_load(uri, bundle_path, tmp_path):
    from alnm_ray.score.bundle import load_bundle
    from alnm_ray.store import to_wide

    path, store = bundle_path
    copy = tmp_path / "bundle"
    shutil.copytree(path, copy)
    model_uri = log_bundle(uri, copy)
    model = mlflow.pyfunc.load_model(model_uri)
    bundle = load_bundle(copy)
    assert [c.name for c in model.metadata.signature.inputs] == bundle.features
    assert [c.name for c in model.metadata.signature.outputs] == ["probability"]
    X = to_wide(store.read("radiomics").to_pandas())[bundle.features]
    np.testing.assert_allclose(model.predict(X)["probability"].to_numpy(), bundle.predict_proba(X))
    # the logged copy is checked on load: an altered file is refused before the model is rebuilt
    local = mlflow.artifacts.download_artifacts(model_uri, dst_path=str(tmp_path / "dl"))
    logged = next(p for p in (tmp_path / "dl").rglob("metadata.json") if p.parent.name == "bundle")
    meta = json.loads(logged.read_text(encoding="utf-8"))
    meta["threshold"] = 0.01
    logged.write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(Exception, match="metadata.json"):
        mlflow.pyfunc.load_model(local)


def test_tune_run_logs_protocol_metrics_and_artifacts(uri, tmp_path):
    from alnm_ray.tune.outputs import summarize

    run = tmp_path / "run"
    run.mkdir()
    rng = np.random.default_rng(0)
    cv = pd.DataFrame({"feature_set": np.repeat(["radiomics", "clinical+radiomics"], 10),
                       "classifier": ["lr"] * 20, "auc": rng.uniform(0.6, 0.9, 20),
                       "accuracy": rng.uniform(0.5, 0.8, 20)})
    summarize(cv).to_csv(run / "summary.csv", index=False)
    (run / "run.json").write_text(json.dumps({
        "run_id": "abc123", "preset": "guo2024", "repeats": 2, "folds": 5, "seed": 7, "reader": "A",
        "classifiers": ["lr"], "feature_sets": ["radiomics", "clinical+radiomics"], "tables": {"radiomics": "v1"},
        "holdout": {"source": "split column", "train_patients": ["p1"], "test_patients": ["p2"]},
        "versions": {"python_packages": {"numpy": "2.3.5"}}}), encoding="utf-8")
    run_id = log_tune_run(uri, run)
    got = mlflow.tracking.MlflowClient(uri).get_run(run_id)
    assert got.data.params["preset"] == "guo2024" and got.data.params["seed"] == "7"
    assert got.data.params["table.radiomics"] == "v1" and got.data.params["version.numpy"] == "2.3.5"
    assert "p2" not in json.dumps(got.data.params)  # hold-out patient ids stay in the run folder
    expected = summarize(cv).set_index("feature_set").loc["radiomics", "auc_mean"]
    assert got.data.metrics["radiomics/lr/auc_mean"] == pytest.approx(expected)
    assert "clinical_radiomics/lr/auc_mean" in got.data.metrics
    (run / "report.html").write_text("<html></html>", encoding="utf-8")
    assert log_report(run, run / "report.html") == run_id
    names = {a.path for a in mlflow.tracking.MlflowClient(uri).list_artifacts(run_id)}
    assert {"summary.csv", "report.html"} <= names and "run.json" not in names


def test_log_report_does_nothing_for_an_untracked_run(tmp_path):
    assert log_report(tmp_path, tmp_path / "report.html") is None


def test_a_missing_optional_package_gets_a_four_part_message():
    with pytest.raises(ConfigError) as err:
        import_optional("mlflow_not_installed_here")
    text = str(err.value)
    assert text.startswith("--mlflow-uri: expected the optional package 'mlflow_not_installed_here'")
    assert "it is not" in text and "pip install 'alnm-ray[mlflow]'" in text and "drop --mlflow-uri" in text


def test_a_file_store_mlflow_refuses_fails_fast_with_the_fix(tmp_path, monkeypatch):
    from alnm_ray.tracking import check_uri

    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)
    uri = (tmp_path / "mlruns").as_uri()
    with pytest.raises(ConfigError) as err:
        check_uri(uri)
    assert f"--mlflow-uri {uri!r}: expected an MLflow tracking store" in str(err.value)
    assert "MLFLOW_ALLOW_FILE_STORE=true" in str(err.value)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    check_uri(uri)  # accepted once the switch is set
