"""run_embedding on a real local Ray and a real store: table, errors, cache, weights."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.constants import CASE_KEY
from alnm_ray.embed.cases import load_crop
from alnm_ray.embed.config import EmbedConfig
from alnm_ray.embed.inputs import to_network_input
from alnm_ray.embed.job import run_embedding
from alnm_ray.embed.model import FEATURE_COLUMNS, build_resnet18, embed_volumes
from alnm_ray.embed.weights import WeightsError, load_weights
from alnm_ray.exceptions import RandomWeightsWarning
from alnm_ray.extract.hashing import sha256_file
from alnm_ray.preprocess.config import PreprocessConfig
from alnm_ray.store import FeatureStore, to_wide

pytestmark = [pytest.mark.ray, pytest.mark.slow]


def _flat_crop_case(cohort: pd.DataFrame, root: Path) -> dict:
    """A case whose lesion crop is constant (the rest of the image is not)."""
    row = cohort.iloc[0].to_dict()
    img = sitk.ReadImage(row["image"])
    arr = sitk.GetArrayFromImage(img)
    arr[:] = 50.0
    arr[0, 0, :] = 60.0  # variation far from the lesion only
    out = sitk.GetImageFromArray(arr)
    out.CopyInformation(img)
    sitk.WriteImage(out, str(root / "flat.nii.gz"))
    return row | {"patient_id": "PFLAT", "image": str(root / "flat.nii.gz")}


def test_end_to_end_then_incremental(ray_local, tmp_path: Path, rng, cohort_factory,
                                     embed_config: EmbedConfig, capsys) -> None:
    cohort = cohort_factory(tmp_path / "c", rng, n_patients=2)
    manifest = pd.concat([cohort, pd.DataFrame([_flat_crop_case(cohort, tmp_path)])], ignore_index=True)
    store = FeatureStore(str(tmp_path / "store"))
    with pytest.warns(RandomWeightsWarning, match=r"random\(seed=0\)"):
        first = run_embedding(manifest, store, embed_config, plan="none", show_progress=True)
    assert (first.existed, first.computed, first.cached, first.failed) == (False, 5, 0, 1)
    # quiet Ray, but cases-done lines (the protocol runner's setting; stderr is not a terminal here)
    assert capsys.readouterr().err.splitlines()[-1].split()[:3] == ["embed", "5/5", "100%"]
    assert first.actors.kind == "cpu" and first.devices == {"cpu": 4}
    assert first.summary_line().startswith("embed: 5 cases: 4 done, 0 cached, 1 failed")

    table = store.read("deep").to_pandas()
    assert list(table.columns[:5]) == list(CASE_KEY)
    assert list(table.columns[-512:]) == list(FEATURE_COLUMNS)
    assert (table[list(FEATURE_COLUMNS)].dtypes == np.float64).all()
    assert np.isfinite(table[list(FEATURE_COLUMNS)].to_numpy()).all()
    assert set(table["weights"]) == {"random(seed=0)"} and table["case_hash"].is_unique
    errors = store.read_errors("deep").to_pandas()
    assert errors[["patient_id", "stage", "error_type"]].values.tolist() == [["PFLAT", "embed", "ExtractionError"]]
    assert "constant crop" in errors.loc[0, "message"]
    info = store.latest("deep")
    assert info.params["weights"] == "random(seed=0)" and info.params["embed"]["seed"] == 0
    assert info.counts == {"cases": 5, "computed": 5, "cached": 0, "failed": 1, "carried": 0}

    wide = to_wide(table)  # the paper's layout: one row per patient, sequences side by side
    deep_cols = [c for c in wide.columns if "__deep_" in c]
    assert wide.shape[0] == 2 and len(deep_cols) == 2 * 512
    assert deep_cols[0] == "MG_CC__deep_000" and deep_cols[-1] == "T2WI__deep_511"
    assert list(wide.columns[:3]) == ["cohort", "center", "label"]

    with pytest.warns(RandomWeightsWarning):
        again = run_embedding(manifest, store, embed_config, plan="none")
    assert (again.existed, again.computed, again.failed, again.version) == (True, 0, 1, first.version)

    changed = tmp_path / "changed.nii.gz"
    img = sitk.ReadImage(manifest.loc[0, "image"])
    sitk.WriteImage(img * 2.0 + 7.0, str(changed))
    manifest.loc[0, "image"] = str(changed)
    with pytest.warns(RandomWeightsWarning):
        third = run_embedding(manifest, store, embed_config, plan="none")
    assert (third.computed, third.cached, third.failed) == (2, 3, 1)  # the changed case + the failed one
    assert store.latest("deep").parent == first.version.version
    schema = store.read("deep").schema
    assert str(schema.field("label").type) == "int64" and str(schema.field("patient_id").type) == "string"
    after = store.read("deep").to_pandas().set_index("patient_id")
    before = table.set_index("patient_id")
    kept = (after["sequence"] == "MG_CC")
    np.testing.assert_array_equal(after.loc[kept, FEATURE_COLUMNS[0]].sort_index(),
                                  before.loc[before["sequence"] == "MG_CC", FEATURE_COLUMNS[0]].sort_index())


def test_weights_file_gives_the_in_process_embedding(ray_local, tmp_path: Path, rng, cohort_factory,
                                                     weights_file: Path, embed_config: EmbedConfig) -> None:
    cohort = cohort_factory(tmp_path / "c", rng, n_patients=2)
    cfg = embed_config.with_(weights=str(weights_file), batch_size=3)
    summary = run_embedding(cohort, str(tmp_path / "store"), cfg, plan="none")
    assert summary.failed == 0 and summary.weights == f"sha256:{sha256_file(weights_file)}"
    store = FeatureStore(str(tmp_path / "store"))
    table = store.read("deep").to_pandas()
    assert store.latest("deep").params["weights_sha256"] == sha256_file(weights_file)

    model = build_resnet18(seed=0)
    load_weights(model, weights_file)
    for row in cohort.to_dict("records"):
        crop = load_crop(row, PreprocessConfig(), cfg.margin_mm)
        expected = embed_volumes(model, to_network_input(crop, cfg)[None])[0]
        got = table[(table["patient_id"] == row["patient_id"]) & (table["sequence"] == row["sequence"])]
        np.testing.assert_allclose(got[list(FEATURE_COLUMNS)].to_numpy()[0], expected, rtol=1e-4, atol=1e-5)


def test_corrupt_weights_fail_before_any_work(ray_local, tmp_path: Path, rng, cohort_factory,
                                              weights_file: Path, embed_config: EmbedConfig) -> None:
    cohort = cohort_factory(tmp_path / "c", rng, n_patients=1, two_d=False)
    weights_file.write_bytes(weights_file.read_bytes()[:1000])
    store = FeatureStore(str(tmp_path / "store"))
    with pytest.raises(WeightsError, match="could not read it"):
        run_embedding(cohort, store, embed_config.with_(weights=str(weights_file)), plan="none")
    assert store.latest("deep") is None
