"""CLEAR and TRIPOD+AI checklists filled from a run folder and the store it read."""

from __future__ import annotations

import json

import pandas as pd

from alnm_ray.standards.checklist import AUTHORS, FROM_RUN, write_checklists
from alnm_ray.standards.dictionary import write_feature_dictionary
from alnm_ray.store import FeatureStore


def _run(tmp_path, store_uri: str) -> object:
    run = tmp_path / "run"
    (run / "selection").mkdir(parents=True)
    (run / "selection" / "radiomics.json").write_text(json.dumps(
        {"steps": [{"step": "input", "n": 40}, {"step": "icc", "n": 30}, {"step": "lasso", "n": 4}]}))
    pd.DataFrame({"patient_id": ["p1", "p2", "p3"], "center": ["A", "A", "B"], "label": [1, 0, 0],
                  "cohort": ["c"] * 3}).to_csv(run / "cohort.csv", index=False)
    (run / "run.json").write_text(json.dumps({
        "store": store_uri, "tables": {"radiomics": "latest"}, "preset": "guo2024", "classifiers": ["lr", "svm"],
        "feature_sets": ["radiomics", "clinical"], "repeats": 2, "folds": 5, "seed": 7, "reader": "A",
        "holdout": {"source": "manifest", "test_size": 0.3, "train_patients": ["p1", "p2"], "test_patients": ["p3"]},
        "external": {"centers": ["A", "B"]}, "versions": {"python_packages": {"scikit-learn": "1.7"}}}))
    (run / "holdout_metrics.json").write_text(json.dumps({"evaluation": {"radiomics": {"models": {
        "lr": {"auc": 0.71, "auc_ci_delong": [0.6, 0.82], "brier": 0.2}}}}}))
    return run


def test_checklists_answer_what_the_run_knows(tmp_path) -> None:
    store = FeatureStore(tmp_path / "store")
    info = store.write_version("radiomics", pd.DataFrame({
        "patient_id": ["p1"], "sequence": ["T2WI"], "original_glcm_Idm": [0.5]}), params={
        "pyradiomics_params": {"setting": {"binWidth": 25}, "imageType": {"Original": {}, "LoG": {"sigma": [1.0]}}},
        "preprocess": {"name": "guo2024", "default": {"normalize": "zscore"},
                       "sequences": {"T2WI": {"n4": True, "spacing": [1.0, 1.0, 1.0], "interpolator": "bspline"}}},
        "library_versions": {"pyradiomics": "3.0.1"}})
    write_feature_dictionary(store)
    run = _run(tmp_path, str(tmp_path / "store"))
    spec = json.loads((run / "run.json").read_text(encoding="utf-8"))
    spec["tables"] = {"radiomics": info.version}
    (run / "run.json").write_text(json.dumps(spec), encoding="utf-8")
    paths = write_checklists(run)
    lists = json.loads(paths["json"].read_text(encoding="utf-8"))["checklists"]
    clear = {i["item"]: i for i in lists["CLEAR"]}
    tripod = {i["item"]: i for i in lists["TRIPOD+AI"]}
    assert len(clear) == 58 and len(tripod) == 52
    assert clear["1"]["status"] == AUTHORS and clear["8"]["status"] == AUTHORS  # title, ethics: authors only
    assert "fixed bin width 25" in clear["23"]["answer"] and clear["23"]["status"] == FROM_RUN
    assert "LoG" in clear["24"]["answer"] and "bspline" in clear["22"]["answer"]
    assert "icc 30" in clear["33"]["answer"] and "2 x 5-fold" in clear["15"]["answer"]
    assert "glcm: 1" in clear["26"]["answer"] and "pyradiomics: 3.0.1" in clear["21"]["answer"]
    assert "0.710 (0.600-0.820)" in tripod["23a"]["answer"] and "A, B" in tripod["12d"]["answer"]
    md = paths["markdown"].read_text(encoding="utf-8")
    assert "## CLEAR (" in md and "| 23 | Methods: pre-processing |" in md


def test_missing_store_leaves_store_items_to_the_authors(tmp_path) -> None:
    run = _run(tmp_path, str(tmp_path / "nowhere"))
    lists = json.loads(write_checklists(run)["json"].read_text(encoding="utf-8"))
    clear = {i["item"]: i for i in lists["checklists"]["CLEAR"]}
    assert "not found" in lists["store_note"]
    assert clear["23"]["status"] == AUTHORS and clear["15"]["status"] != AUTHORS
