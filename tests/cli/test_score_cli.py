"""`alnm-ray train` and `alnm-ray score`: bundles from the CLI, several manifests, clean errors."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk
from click.testing import CliRunner

from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore, query

PARAMS = {"imageType": {"Original": {}},
          "featureClass": {"firstorder": ["Mean", "Median", "Maximum", "Energy", "Variance", "Range"]},
          "setting": {"binWidth": 25, "label": 1}}
pytestmark = [pytest.mark.ray, pytest.mark.slow]
SELECTION = "preset: guo2024\nicc_threshold: null\nlasso_repeats: 2\nlasso_folds: 3\nmrmr_k: 4\n"


def _cohort(root, rng, n, cohort, center="c1"):
    """Tiny 3-D T2WI cases whose lesion brightness carries the label, and their manifest."""
    folder = root / cohort
    folder.mkdir(parents=True)
    rows = []
    for p in range(n):
        y = p % 2
        vol = rng.normal(100.0, 8.0, size=(8, 16, 16)).astype(np.float32)
        mask = np.zeros((8, 16, 16), np.uint8)
        mask[2:6, 5:11, 5:11] = 1
        vol[mask == 1] += 25.0 * y + rng.normal(0, 6.0, size=int(mask.sum()))
        pid = f"{cohort}-{p:02d}"
        for arr, name in ((vol, "img"), (mask, "msk")):
            sitk.WriteImage(sitk.GetImageFromArray(arr), str(folder / f"{pid}_{name}.nii.gz"))
        rows.append({"cohort": cohort, "center": center, "patient_id": pid, "sequence": "T2WI", "reader": "A",
                     "image": f"{pid}_img.nii.gz", "mask": f"{pid}_msk.nii.gz", "label": y})
    pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
    return str(folder / "manifest.csv")


def _run(*args):
    return CliRunner().invoke(cli, ["--quiet", *args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory, ray_local):
    root = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(2)
    store = str(root / "store")
    (root / "params.yaml").write_text(json.dumps(PARAMS), encoding="utf-8")
    (root / "selection.yaml").write_text(SELECTION, encoding="utf-8")
    result = _run("extract", _cohort(root, rng, 16, "train_c"), "--store", store, "--params",
                  str(root / "params.yaml"), "--preprocess", "none")
    assert result.exit_code == 0, result.output
    version = FeatureStore(store).latest("radiomics").version
    result = _run("train", "--store", store, "--feature-set", "radiomics", "--classifier", "lr",
                  "--selection", str(root / "selection.yaml"), "--table", f"radiomics@{version[:10]}",
                  "--param", "C=0.5", "--split", "", "--out", str(root / "bundle"))
    assert result.exit_code == 0, result.output
    return root, store, rng


def test_train_then_score_several_manifests_in_one_command(trained):
    root, store, rng = trained
    bundle = json.loads((root / "bundle" / "metadata.json").read_text(encoding="utf-8"))
    assert bundle["classifier_params"] == {"C": 0.5} and bundle["training"]["n_patients"] == 16
    a, b = _cohort(root, rng, 6, "ext_a", "c2"), _cohort(root, rng, 7, "ext_b", "c3")
    (root / "ext_b" / "ext_b-06_img.nii.gz").unlink()  # one case cannot be read
    out = root / "preds.parquet"
    result = _run("score", str(root / "bundle"), "--manifest", a, "--manifest", b, "--store", store,
                  "--out", str(out), "--n-boot", "200")
    assert result.exit_code == 3, result.output  # more failures than --max-failures 0
    assert f"bundle {bundle['bundle_id']}: 13 patient(s) in = 12 prediction(s) + 1 error(s)" in result.output
    assert "ext_a: n=6 (3 positive)  AUC" in result.output and "ext_b: n=6 (3 positive)  AUC" in result.output
    assert "failed ext_b/ext_b-06 [read] FileNotFoundError" in result.output
    assert "drift:" in result.output
    saved = json.loads((root / "preds.validation.json").read_text(encoding="utf-8"))
    assert sorted(saved["cohorts"]) == ["ext_a", "ext_b"]
    assert sorted(pd.read_parquet(out)["cohort"].unique()) == ["ext_a", "ext_b"]
    rows = query(store, "SELECT cohort, count(*) AS n FROM predictions GROUP BY cohort ORDER BY cohort")
    assert rows.to_pylist() == [{"cohort": "ext_a", "n": 6}, {"cohort": "ext_b", "n": 6}]

    # the same cohorts from the stored features: no extraction, same probabilities
    again = _run("score", str(root / "bundle"), "--features", "radiomics", "--store", store, "--cohort", "ext_a",
                 "--out", str(root / "f.parquet"), "--n-boot", "200", "--no-store-write")
    assert again.exit_code == 0, again.output
    first = pd.read_parquet(out).query("cohort == 'ext_a'").set_index("patient_id")["probability"]
    second = pd.read_parquet(root / "f.parquet").set_index("patient_id")["probability"]
    pd.testing.assert_series_equal(first.sort_index(), second.sort_index())


def test_tampered_bundle_is_refused_with_the_file_named(trained):
    root, store, _ = trained
    tampered = root / "tampered"
    import shutil

    shutil.copytree(root / "bundle", tampered)
    data = bytearray((tampered / "model.skops").read_bytes())
    data[100] ^= 0x01
    (tampered / "model.skops").write_bytes(bytes(data))
    result = _run("score", str(tampered), "--features", "radiomics", "--store", store)
    assert result.exit_code == 2
    assert "altered (checksum differs): model.skops" in result.output and "Traceback" not in result.output


def test_incompatible_flags_are_rejected_before_any_work(trained):
    root, store, _ = trained
    both = _run("score", str(root / "bundle"), "--manifest", str(root / "train_c" / "manifest.csv"),
                "--features", "radiomics", "--store", store)
    assert both.exit_code == 2 and "expected either --manifest" in both.output and "got both" in both.output
    neither = _run("score", str(root / "bundle"), "--store", store)
    assert neither.exit_code == 2 and "got neither" in neither.output
    wrong = _run("score", str(root / "bundle"), "--features", "deep", "--store", store)
    assert wrong.exit_code == 2 and "expected one of the tables the bundle uses (radiomics)" in wrong.output
    bad_table = _run("train", "--store", store, "--feature-set", "radiomics", "--classifier", "lr",
                     "--table", "radiomics", "--out", str(root / "x"))
    assert bad_table.exit_code == 2 and "expected TABLE@VERSION" in bad_table.output
