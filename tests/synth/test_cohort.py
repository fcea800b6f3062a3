"""Whole cohorts: manifest, geometry, readers, split, summary, determinism, Ray."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.constants import READER_A
from alnm_ray.exceptions import ConfigError
from alnm_ray.manifest import read_manifest
from alnm_ray.synth import SYNTH_SEQUENCES, SynthConfig, generate_cohort, plan_cohort, stratified_split
from alnm_ray.synth.cohort import MANIFEST_COLUMNS

from .conftest import tree_hashes


def test_manifest_has_the_agreed_columns_and_validates(tiny_cohort, tiny_config):
    m = pd.read_csv(tiny_cohort.manifest, dtype=str)
    assert tuple(m.columns) == MANIFEST_COLUMNS
    n, k = tiny_config.patients, tiny_config.n_repeat
    assert len(m) == tiny_cohort.n_rows == len(SYNTH_SEQUENCES) * (n + 2 * k)
    assert set(m.sequence) == set(SYNTH_SEQUENCES) and set(m.mask_label) == {"1"}
    assert not m.image.str.startswith("/").any() and m.image.str.startswith("images/").all()
    df = read_manifest(tiny_cohort.manifest, tiny_cohort.clinical)  # the project's validator
    assert df.patient_id.nunique() == n


def test_reader_a_everywhere_b_and_a2_on_the_repeat_subset(tiny_cohort, tiny_config):
    m = pd.read_csv(tiny_cohort.manifest, dtype=str)
    assert m[m.reader == READER_A].groupby("patient_id").size().eq(len(SYNTH_SEQUENCES)).all()
    repeat = {r: set(m.loc[m.reader == r, "patient_id"]) for r in ("B", "A2")}
    assert repeat["B"] == repeat["A2"] and len(repeat["B"]) == tiny_config.n_repeat
    b_rows = m[m.reader == "B"].merge(m[m.reader == READER_A], on=["patient_id", "sequence"])
    assert (b_rows.image_x == b_rows.image_y).all() and (b_rows.mask_x != b_rows.mask_y).all()
    summary = json.loads(tiny_cohort.summary.read_text(encoding="utf-8"))
    assert sorted(summary["repeat_readers"]["patients"]) == sorted(repeat["B"])


def test_masks_share_their_image_geometry_and_are_non_empty(tiny_cohort):
    m = pd.read_csv(tiny_cohort.manifest, dtype=str)
    base = tiny_cohort.manifest.parent
    for row in m.itertuples():
        image, mask = sitk.ReadImage(str(base / row.image)), sitk.ReadImage(str(base / row.mask))
        dim = 2 if row.sequence.startswith("MG_") else 3
        assert image.GetDimension() == mask.GetDimension() == dim
        assert image.GetSize() == mask.GetSize()
        assert image.GetSpacing() == mask.GetSpacing() and image.GetOrigin() == mask.GetOrigin()
        assert image.GetDirection() == mask.GetDirection()
        assert mask.GetPixelID() == sitk.sitkUInt8
        assert sitk.GetArrayViewFromImage(mask).sum() > 0


def test_centres_differ_in_spacing(tiny_cohort):
    m = pd.read_csv(tiny_cohort.manifest, dtype=str)
    base = tiny_cohort.manifest.parent
    spacing = {row.center: sitk.ReadImage(str(base / row.image)).GetSpacing()
               for row in m[(m.sequence == "T2WI") & (m.reader == READER_A)].itertuples()}
    assert len(spacing) == 2 and len(set(spacing.values())) == 2


def test_clinical_table_and_summary(tiny_cohort, tiny_config):
    clinical = pd.read_csv(tiny_cohort.clinical, dtype={"patient_id": str})
    m = pd.read_csv(tiny_cohort.manifest, dtype=str)
    assert list(clinical.columns[:3]) == ["patient_id", "cohort", "center"]
    assert "label" not in clinical.columns  # the label lives in the manifest only
    assert set(clinical.patient_id) == set(m.patient_id)
    summary = json.loads(tiny_cohort.summary.read_text(encoding="utf-8"))
    assert summary["seed"] == tiny_config.seed and summary["config"] == tiny_config.to_dict()
    per_center = summary["counts"]["per_center"]
    assert sum(c["patients"] for c in per_center.values()) == tiny_config.patients
    labels = m.drop_duplicates("patient_id").label.astype(int)
    assert summary["counts"]["per_label"]["1"] == labels.sum() == tiny_cohort.n_positive
    assert summary["oracle_auc_expected"] == pytest.approx(0.824, abs=0.01)
    assert set(summary["centers"]["C1"]) >= {"spacing_mm", "field_strength_t", "gain", "noise", "bias_sd"}
    assert {"numpy", "SimpleITK", "alnm_ray"} <= set(summary["versions"])
    truth = pd.read_csv(tiny_cohort.out_dir / "truth.csv", dtype={"patient_id": str})
    assert truth.set_index("patient_id").label.to_dict() == dict(zip(m.patient_id, m.label.astype(int)))


def test_split_is_stratified_seeded_and_like_the_paper():
    labels = np.array([1] * 117 + [0] * 153)
    split = stratified_split(labels, 0.3, seed=1)
    assert (split == "test").sum() == 81 and ((split == "test") & (labels == 1)).sum() == 35
    assert (split == stratified_split(labels, 0.3, seed=1)).all()
    assert not (split == stratified_split(labels, 0.3, seed=2)).all()
    assert (stratified_split(np.array([1]), 0.3, seed=0) == "train").all()


def test_plan_ids_centres_and_repeat_subset():
    plans = plan_cohort(SynthConfig(patients=12345, centers=3, seed=1))
    assert plans[0].patient_id == "P00001" and plans[-1].patient_id == "P12345"
    assert sum(p.repeat for p in plans) == 30
    assert [p.center for p in plans] == sorted(p.center for p in plans)


def test_same_seed_same_bytes(tmp_path):
    cfg = SynthConfig(patients=3, centers=2, seed=9, n_repeat_readers=1)
    a = generate_cohort(tmp_path / "a", cfg, parallel="serial", quiet=True)
    b = generate_cohort(tmp_path / "b", cfg, parallel="serial", quiet=True)
    ha, hb = tree_hashes(a.out_dir), tree_hashes(b.out_dir)
    assert len(ha) == 3 * 6 + 6 * (3 + 1 + 1) + 4 and ha == hb  # images, masks (A, B, A2), tables
    c = generate_cohort(tmp_path / "c", SynthConfig(patients=3, centers=2, seed=10, n_repeat_readers=1),
                        parallel="serial", quiet=True)
    assert tree_hashes(c.out_dir)["images/P0001/T2WI.nii.gz"] != ha["images/P0001/T2WI.nii.gz"]


def test_signal_zero_writes_the_same_images(tmp_path):
    cfg = dict(patients=2, centers=1, seed=4, n_repeat_readers=0)
    a = generate_cohort(tmp_path / "a", SynthConfig(signal=1.0, **cfg), parallel="serial", quiet=True)
    b = generate_cohort(tmp_path / "b", SynthConfig(signal=0.0, **cfg), parallel="serial", quiet=True)
    ha, hb = tree_hashes(a.out_dir), tree_hashes(b.out_dir)
    images = [k for k in ha if k.startswith(("images/", "masks/"))]
    assert images and all(ha[k] == hb[k] for k in images)


def test_output_folder_rules(tmp_path):
    cfg = SynthConfig(patients=1, centers=1, n_repeat_readers=0)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a new or empty folder; found 1 entries \\(notes.txt\\)"):
        generate_cohort(busy, cfg, quiet=True)
    with pytest.raises(ConfigError, match="only replaces a synthetic cohort"):
        generate_cohort(busy, cfg, quiet=True, overwrite=True)
    assert (busy / "notes.txt").exists()
    out = tmp_path / "cohort"
    generate_cohort(out, cfg, quiet=True)
    (out / "images" / "stray.txt").write_text("old", encoding="utf-8")
    generate_cohort(out, cfg, quiet=True, overwrite=True)
    assert not (out / "images" / "stray.txt").exists() and (out / "cohort.json").exists()
    (out / "cohort.json").unlink()  # an interrupted run leaves only generator outputs behind
    generate_cohort(out, cfg, quiet=True, overwrite=True)
    assert (out / "cohort.json").exists()
    with pytest.raises(ConfigError, match="parallel"):
        generate_cohort(tmp_path / "x", cfg, parallel="threads")


@pytest.mark.ray
@pytest.mark.slow
def test_ray_and_serial_write_the_same_bytes(tmp_path, ray_local):
    cfg = SynthConfig(patients=4, centers=2, seed=13, n_repeat_readers=1)
    serial = generate_cohort(tmp_path / "serial", cfg, parallel="serial", quiet=True)
    par = generate_cohort(tmp_path / "ray", cfg, parallel="ray", quiet=True)
    assert par.mode == "ray"
    assert tree_hashes(serial.out_dir) == tree_hashes(par.out_dir)
    assert generate_cohort(tmp_path / "auto", cfg, quiet=True).mode == "ray"  # Ray is up: used by default
