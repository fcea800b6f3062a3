"""``alnm-ray run PROTOCOL`` end to end on tiny ``synth --like`` cohorts (real Ray, PyRadiomics, torch).

Each protocol runs as a copy of the shipped file with tiny extraction settings (first-order and GLCM
features, small embedding grids) and ``--quick`` -- the way users copy and edit a protocol.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.protocol.load import shipped_text

pytestmark = [pytest.mark.slow, pytest.mark.ray]

TINY_PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "glcm": None},
               "setting": {"binWidth": 25, "voxelArrayShift": 300, "label": 1, "normalize": False,
                           "geometryTolerance": 0.0001}}


def _tiny(name: str, path, **changes) -> str:
    data = yaml.safe_load(shipped_text(name))
    data["based_on"] = name
    data["radiomics"]["params"] = TINY_PARAMS
    if data.get("deep"):
        data["deep"].update({"grid": [16, 32, 32], "grid_2d": [32, 32]})
    data.update(changes)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return str(path)


def _synth(out, like: str, patients: int, seed: int, signal: float = 1.0):
    from alnm_ray.synth import SynthConfig, generate_cohort

    info = generate_cohort(out, SynthConfig(patients=patients, seed=seed, signal=signal, like=like),
                           parallel="serial", quiet=True)
    return str(info.manifest), str(info.clinical)


def _run(args):
    return CliRunner().invoke(cli, ["--num-cpus", "2", "--quiet", "run", *args])


def _guo_copy(tmp_path):
    data = yaml.safe_load(shipped_text("guo2024"))
    pre = {"T2WI": {"n4": False, "normalize": "zscore", "spacing": [1.0, 1.0, 1.0],
                    "interpolator": "linear", "crop": True}}
    return _tiny("guo2024", tmp_path / "guo_tiny.yaml", sequences=["MG_CC", "T2WI"],
                 preprocessing={"default": data["preprocessing"]["default"], "sequences": pre},
                 classifiers={"models": {"lr": {}, "mlp": {}}})


def test_guo2024_runs_end_to_end_resumes_and_reports(tmp_path, ray_local):
    manifest, _ = _synth(tmp_path / "cohort", "guo2024", 36, seed=1)
    protocol = _guo_copy(tmp_path)
    run = tmp_path / "run"
    args = [protocol, "--manifest", manifest, "--store", str(tmp_path / "store"), "--out", str(run), "--quick"]
    result = _run(args)
    assert result.exit_code == 0, result.output
    stages = json.loads((run / "stages.json").read_text(encoding="utf-8"))["stages"]
    assert list(stages) == ["validate", "extract", "embed", "sweep", "evaluate", "bundle", "report"]
    metrics = pd.read_csv(run / "metrics.csv")
    assert set(metrics["set"]) == {"training", "test"}
    assert len(metrics) == 3 * 2 * 2  # radiomics/deep/combined x lr/mlp x training/test
    assert metrics[["auc", "accuracy", "sensitivity", "specificity", "ppv", "npv", "f1"]].notna().all().all()
    comps = pd.read_csv(run / "comparisons.csv")
    assert set(comps["model_b"]) == {"radiomics/mlp", "deep/mlp"} and {"delong_p", "nri", "idi"} <= set(comps)
    bundle = stages["bundle"]
    assert bundle["feature_set"] == "combined" and bundle["classifier"] == "mlp" and bundle["signed"]
    assert (run / "bundle" / "SIGNATURE.json").is_file()
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "Where this run differs from the paper" in html and "--quick" in html
    assert "selection.radiomics.mrmr_k" in html and "Table 1" in html
    again = _run(args)
    assert again.exit_code == 0, again.output
    assert "6 reused" in again.output
    pd.testing.assert_frame_equal(pd.read_csv(run / "metrics.csv"), metrics)
    other = _run([protocol, "--manifest", manifest, "--store", str(tmp_path / "store"), "--out", str(run)])
    assert other.exit_code == 2 and "quick" in other.output


def test_guo2024_signal_0_scores_at_chance(tmp_path, ray_local):
    manifest, _ = _synth(tmp_path / "cohort", "guo2024", 48, seed=5, signal=0.0)
    run = tmp_path / "run"
    result = _run([_guo_copy(tmp_path), "--manifest", manifest, "--store", str(tmp_path / "store"),
                   "--out", str(run), "--quick", "--unsigned"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.csv")
    test_auc = metrics.loc[metrics["set"] == "test", "auc"].mean()
    cv_auc = pd.read_csv(run / "sweep" / "summary.csv")["auc_mean"].mean()
    # 6 models on ~15 test patients: chance gives a mean AUC within 0.5 +- 0.2 (no leakage of labels).
    assert abs(test_auc - 0.5) < 0.2, metrics
    assert abs(cv_auc - 0.5) < 0.2


def test_liu2025_runs_with_post_fusion_bundle_and_table3(tmp_path, ray_local):
    from alnm_ray.protocol.fusion_bundle import score_fusion_bundle, verify_fusion_bundle

    manifest, clinical = _synth(tmp_path / "cohort", "liu2025", 48, seed=2)
    run = tmp_path / "run"
    result = _run([_tiny("liu2025", tmp_path / "liu_tiny.yaml"), "--manifest", manifest, "--clinical", clinical,
                   "--store", str(tmp_path / "store"), "--out", str(run), "--quick"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.csv")
    assert set(metrics["set"]) == {"training", "internal_validation", "test"}
    assert {"post:clinical+radiomics+deep", "clinical+radiomics+deep", "clinical"} <= set(metrics["feature_set"])
    table3 = pd.read_csv(run / "comparisons.csv")
    assert set(table3["set"]) == {"training", "internal_validation"} and len(table3) == 4
    doc = verify_fusion_bundle(run / "bundle")
    assert doc["components"] == ["clinical", "radiomics", "deep"] and (run / "bundle" / "SIGNATURE.json").is_file()
    prob = score_fusion_bundle(run / "bundle", {c: np.linspace(0.1, 0.9, 5) for c in doc["components"]})
    assert prob.shape == (5,) and np.all((prob >= 0) & (prob <= 1))
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "table3" in html and "internal_validation" in html and "post:clinical+radiomics+deep/sgd" in html
    # Table 1 holds the clinical variables of every set, not of the training set only
    table1 = html[html.rindex("Table 1: baseline"):html.rindex("Feature selection")]
    for name in ("training", "internal_validation", "test"):
        part = table1[table1.index(f"{name} (n = "):]
        assert "mg_reported_ln" in part[:part.index("</table>")], name


def test_liu2025_signal_0_scores_at_chance(tmp_path, ray_local):
    # 72 patients: the meta SVM's Platt scaling runs its own 5-fold CV inside each training fold
    manifest, clinical = _synth(tmp_path / "cohort", "liu2025", 72, seed=6, signal=0.0)
    run = tmp_path / "run"
    result = _run([_tiny("liu2025", tmp_path / "liu_tiny.yaml"), "--manifest", manifest, "--clinical", clinical,
                   "--store", str(tmp_path / "store"), "--out", str(run), "--quick", "--unsigned"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.csv")
    held_out = metrics.loc[metrics["set"] != "training", "auc"].mean()
    cv_auc = pd.read_csv(run / "sweep" / "summary.csv")["auc_mean"].mean()
    # Every model (clinical, radiomics, deep, pre- and post-fusion) on ~11 + 11 held-out patients:
    # chance gives a mean AUC within 0.5 +- 0.2, and so does the CV on the training split.
    assert abs(held_out - 0.5) < 0.2, metrics
    assert abs(cv_auc - 0.5) < 0.2


def _training_images(manifest: str) -> list[str]:
    from alnm_ray.manifest import read_manifest

    df = read_manifest(manifest, check_files=False)
    return sorted(set(df.loc[df["split"] == "train", "image"].astype(str)))


def test_gu2025_runs_with_histogram_landmarks_fitted_on_the_training_set(tmp_path, ray_local):
    import hashlib

    from alnm_ray.preprocess import PreprocessPlan

    manifest, clinical = _synth(tmp_path / "cohort", "gu2025", 48, seed=3)
    run = tmp_path / "run"
    args = [_tiny("gu2025", tmp_path / "gu_tiny.yaml"), "--manifest", manifest, "--clinical", clinical,
            "--store", str(tmp_path / "store"), "--out", str(run), "--quick"]
    result = _run(args)
    assert result.exit_code == 0, result.output
    # landmarks learned on the training split's images only (validation/external images are mapped with them)
    saved = json.loads((run / "histogram" / "DCE_P1.json").read_text(encoding="utf-8"))
    train = _training_images(manifest)
    assert saved["fitted_on"]["n_images"] == len(train) == saved["state"]["n_images"]
    assert saved["fitted_on"]["images_sha256"] == hashlib.sha256("\n".join(train).encode()).hexdigest()
    # the bundle's preprocessing plan carries them, so scoring new images applies the same map
    plan = PreprocessPlan.from_dict(yaml.safe_load((run / "bundle" / "config" / "preprocess.yaml").read_text(encoding="utf-8")))
    state = plan.for_sequence("DCE_P1").histogram
    assert state is not None and state.to_dict() == saved["state"]
    assert plan.for_sequence("DCE_P1").normalize == "histogram" and plan.for_sequence("DCE_P1").n4
    stages = json.loads((run / "stages.json").read_text(encoding="utf-8"))["stages"]
    assert stages["bundle"]["feature_set"] == "clinical+deep" and stages["bundle"]["classifier"] == "lr"
    # Table 2 (clinical logistic model's odds ratios), the five models and the external centre
    odds = pd.read_csv(run / "odds_ratios.csv")
    assert {"uni_or", "multi_or", "kept"} <= set(odds) and "max_diameter_cm" in set(odds["variable"])
    metrics = pd.read_csv(run / "metrics.csv")
    assert set(metrics["set"]) == {"training", "internal_validation", "external"}
    models = set(zip(metrics.feature_set, metrics.classifier))
    assert {("clinical", "logistic"), ("clinical+deep", "lr"), ("radiomics", "lr"), ("deep", "lr")} <= models
    assert metrics["auc"].notna().all()
    html = (run / "report.html").read_text(encoding="utf-8")
    assert "external" in html and "preprocessing.sequences.DCE_P1.normalize" in html
    again = _run(args)
    assert again.exit_code == 0 and "6 reused" in again.output, again.output


def test_gu2025_signal_0_images_score_at_chance(tmp_path, ray_local):
    manifest, clinical = _synth(tmp_path / "cohort", "gu2025", 48, seed=6, signal=0.0)
    run = tmp_path / "run"
    result = _run([_tiny("gu2025", tmp_path / "gu_tiny.yaml"), "--manifest", manifest, "--clinical", clinical,
                   "--store", str(tmp_path / "store"), "--out", str(run), "--quick", "--unsigned"])
    assert result.exit_code == 0, result.output
    metrics = pd.read_csv(run / "metrics.csv")
    images_only = metrics[metrics["feature_set"].isin(["radiomics", "deep"]) & (metrics["set"] != "training")]
    # 6 image models on ~22 held-out patients with no image signal: a mean AUC within 0.5 +- 0.2
    assert len(images_only) == 12 and abs(images_only["auc"].mean() - 0.5) < 0.2, images_only
