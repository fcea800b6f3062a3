"""The bad-input catalog: every kind of bad input, through the real CLI, gets a clear answer.

Each kind builds its bad input from tiny real files under ``tmp_path`` and runs
``alnm-ray`` (click's runner on the real command group). Every kind must:

* exit with code 2 (a user error), never with a traceback or an "internal error";
* print the exact fragments of its message: which item, what was expected,
  what was found and how to fix it;
* write nothing: the whole ``tmp_path`` tree (stores, bundles, outputs) is
  byte-identical before and after, so no half-written version, bundle or file.

Component tests check many of these checks one by one; this is the
user's-eye view of all of them together (see docs/reliability.md).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from alnm_ray.cli._errors import EXIT_USER_ERROR
from alnm_ray.cli.main import cli
from alnm_ray.store import FeatureStore

from .conftest import (FAST_SELECTION, TINY_PARAMS, lesion_case, long_features, tree, write_dicom_series,
                       write_manifest, write_volume)


@dataclass
class Case:
    """One bad input: the command line, the message fragments, and what must stay unwritten."""

    args: list[str]
    expect: list[str]
    ray: bool = False                                   # the command starts Ray (share the module's)
    outside: list[Path] = field(default_factory=list)   # paths outside tmp_path that must not appear
    patch: Callable[[pytest.MonkeyPatch], None] | None = None


KINDS: dict[str, Callable[[Path, np.random.Generator], Case]] = {}


def kind(fn: Callable[[Path, np.random.Generator], Case]) -> Callable[[Path, np.random.Generator], Case]:
    KINDS[fn.__name__] = fn
    return fn


def _rows(root: Path, rng: np.random.Generator, n: int = 2) -> list[dict]:
    return [lesion_case(root, f"PX-730{i + 1}", rng) for i in range(n)]


def _validate(root: Path, rows: list[dict], *extra: str) -> list[str]:
    return ["validate", str(write_manifest(root, rows)), *extra]


def _extract(root: Path, rows: list[dict], *extra: str) -> list[str]:
    (root / "params.yaml").write_text(json.dumps(TINY_PARAMS), encoding="utf-8")
    return ["extract", str(write_manifest(root, rows)), "--store", str(root / "store"),
            "--params", str(root / "params.yaml"), "--preprocess", "none", *extra]


# --- image and mask files (alnm-ray validate) ---------------------------------------------------
@kind
def missing_image_file(root, rng):
    rows = _rows(root, rng)
    rows[0]["image"] = "gone.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected an existing file or DICOM folder; found no such path",
        "gone.nii.gz", "Fix: correct the path (relative paths start at the manifest's folder)."])


@kind
def corrupt_image_file(root, rng):
    rows = _rows(root, rng)
    (root / "corrupt.nii.gz").write_bytes(b"\x1f\x8b not really gzip")
    rows[1]["image"] = "corrupt.nii.gz"
    return Case(_validate(root, rows), [
        "row 2, column 'image': expected a readable image; found corrupt.nii.gz: could not read the file (",
        "Fix: it may be truncated or corrupt; re-export it."])


@kind
def truncated_compressed_image(root, rng):
    rows = _rows(root, rng)
    data = (root / "PX-7301.nii.gz").read_bytes()
    (root / "cut.nii.gz").write_bytes(data[: len(data) // 2])  # ITK alone would zero-fill the rest
    rows[0]["image"] = "cut.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected a complete gzip stream; found cut.nii.gz: a compressed stream that "
        "ends early (the file is truncated). Fix: re-export or copy the file again."])


@kind
def truncated_uncompressed_image(root, rng):
    rows = _rows(root, rng)
    write_volume(root / "full.nii", rng.normal(100, 10, (8, 16, 16)).astype(np.float32))
    data = (root / "full.nii").read_bytes()
    (root / "cut.nii").write_bytes(data[:1000])
    (root / "full.nii").unlink()
    rows[0]["image"] = "cut.nii"
    return Case(_validate(root, rows), [
        f"row 1, column 'image': expected {len(data)} bytes of header and voxel data; found cut.nii: 1000 "
        "bytes (the file is truncated). Fix: re-export or copy the file again."])


@kind
def unsupported_image_format(root, rng):
    rows = _rows(root, rng)
    (root / "scan.txt").write_text("not an image", encoding="utf-8")
    rows[0]["image"] = "scan.txt"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected one of .png, .jpg", "found scan.txt: a '.txt' file.",
        "Fix: convert it (e.g. with SimpleITK) to NIfTI or NRRD."])


@kind
def dicom_folder_with_mixed_series(root, rng):
    rows = _rows(root, rng)
    arr = rng.normal(100, 10, (8, 16, 16)).astype(np.int16)
    write_dicom_series(root / "dicom", "1.2.826.0.1.3680043.2.1125.2", arr, "t2")
    write_dicom_series(root / "dicom", "1.2.826.0.1.3680043.2.1125.3", arr, "dwi")
    rows[0]["image"] = "dicom"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected one DICOM series; found dicom: 2 (1.2.826.0.1.3680043.2.1125.2, "
        "1.2.826.0.1.3680043.2.1125.3). Fix: put each series in its own folder"])


@kind
def empty_mask(root, rng):
    rows = _rows(root, rng)
    write_volume(root / "empty.nii.gz", np.zeros((8, 16, 16), np.uint8))
    rows[0]["mask"] = "empty.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'mask_label': expected voxels with value 1 in the mask; found an empty mask (all zero). "
        "Fix: set mask_label to the lesion's value, or re-draw the ROI."])


@kind
def mask_label_absent(root, rng):
    rows = _rows(root, rng)
    rows[1]["mask_label"] = 2
    return Case(_validate(root, rows), [
        "row 2, column 'mask_label': expected voxels with value 2 in the mask; found mask values 0, 1. "
        "Fix: set mask_label to the lesion's value"])


@kind
def image_mask_geometry_mismatch(root, rng):
    rows = _rows(root, rng)
    mask = np.zeros((8, 16, 16), np.uint8)
    mask[2:6, 4:11, 4:11] = 1
    write_volume(root / "thick.nii.gz", mask, spacing=(1.0, 1.0, 3.0))
    rows[0]["mask"] = "thick.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'mask': expected the image's spacing (mm) (1, 1, 2); found (1, 1, 3). "
        "Fix: resample the mask onto the image grid (nearest neighbour) or fix its header."])


@kind
def nan_image(root, rng):
    rows = _rows(root, rng)
    arr = rng.normal(100, 10, (8, 16, 16)).astype(np.float32)
    arr[3, 5, 5] = np.nan
    write_volume(root / "nan.nrrd", arr)  # NRRD keeps NaN (ITK's NIfTI reader turns it into 0)
    rows[0]["image"] = "nan.nrrd"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected finite intensities; found 1 NaN/inf voxels. Fix: re-export the image"])


@kind
def nan_in_a_nifti_image(root, rng):
    rows = _rows(root, rng)
    arr = rng.normal(100, 10, (8, 16, 16)).astype(np.float32)
    arr[3, 5, 5], arr[4, 6, 6] = np.nan, np.inf
    write_volume(root / "nan.nii.gz", arr)  # ITK alone reads these voxels as 0, without a word
    rows[0]["image"] = "nan.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected finite intensities; found nan.nii.gz: 2 NaN/inf voxels (a NIfTI reader "
        "would silently read them as 0). Fix: re-export the image; NaNs usually come from a failed conversion."])


@kind
def constant_image(root, rng):
    rows = _rows(root, rng)
    write_volume(root / "flat.nii.gz", np.full((8, 16, 16), 7.0, np.float32))
    rows[0]["image"] = "flat.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'image': expected an image with contrast; found a constant image (all 7). "
        "Fix: check the file is the intended series"])


@kind
def two_d_mask_for_three_d_image(root, rng):
    rows = _rows(root, rng)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:11, 4:11] = 1
    write_volume(root / "flat_mask.nii.gz", mask)
    rows[0]["mask"] = "flat_mask.nii.gz"
    return Case(_validate(root, rows), [
        "row 1, column 'mask': expected a 3-D mask like the image; found a 2-D mask. "
        "Fix: export the mask on the image's grid."])


# --- manifest table ---------------------------------------------------------------------------
@kind
def duplicate_case_keys(root, rng):
    rows = _rows(root, rng)
    return Case(_extract(root, rows + [dict(rows[0])]), [
        "row 3, column 'cohort+patient_id+sequence+reader': expected one row per (cohort, patient_id, "
        "sequence, reader); found 2 rows with", "(rows 1, 3). Fix: remove the duplicate rows"])


@kind
def unknown_sequence(root, rng):
    rows = _rows(root, rng)
    rows[1]["sequence"] = "T2W"
    return Case(_validate(root, rows), [
        "row 2, column 'sequence': expected one of MG_CC, MG_MLO, T2WI", "found 'T2W'",
        "Fix: use an allowed value or declare the name with --extra-sequence. Did you mean 'T2WI'?"])


@kind
def non_binary_label(root, rng):
    rows = _rows(root, rng)
    rows[0]["label"] = 2
    return Case(_extract(root, rows), [
        "row 1, column 'label': expected one of 0, 1; found 2. "
        "Fix: labels are 1 (ALNM) or 0 (no ALNM); leave empty when unknown."])


@kind
def manifest_missing_column(root, rng):
    rows = [{k: v for k, v in row.items() if k != "mask"} for row in _rows(root, rng)]
    return Case(_extract(root, rows), [
        "table, column 'mask': expected a column named 'mask'; found no such column (columns:",
        "add the column or rename yours"])


@kind
def patient_missing_from_clinical_table(root, rng):
    rows = _rows(root, rng, 3)
    (root / "clinical.csv").write_text("patient_id,age\nPX-7301,51\nPX-7302,63\n", encoding="utf-8")
    return Case(_validate(root, rows, "--clinical", str(root / "clinical.csv")), [
        "table, column 'patient_id': expected a clinical row for every manifest patient; "
        "found no clinical row for PX-7303. Fix: add the patients to the clinical table."])


@kind
def path_escaping_data_root(root, rng):
    rows = _rows(root, rng)
    (root / "data").mkdir()
    rows[0]["image"] = "../../etc/passwd"
    return Case(_validate(root, rows, "--data-root", str(root)), [
        f"row 1, column 'image': expected a path inside the data root {str(root.resolve())!r}; "
        "found ../../etc/passwd. Fix: move the file under --data-root or widen --data-root."])


# --- configuration files ---------------------------------------------------------------------
@kind
def params_yaml_pyradiomics_rejects(root, rng):
    args = _extract(root, _rows(root, rng))
    (root / "params.yaml").write_text("setting:\n  binWidht: 25\n", encoding="utf-8")
    return Case(args, ["key 'binWidht' under /setting is not a PyRadiomics setting", "Did you mean 'binWidth'?"])


@kind
def weights_of_the_wrong_architecture(root, rng):
    import torch
    from monai.networks.nets import resnet10

    torch.manual_seed(0)
    net = resnet10(spatial_dims=3, n_input_channels=1, num_classes=2, widen_factor=0.25)
    torch.save({"state_dict": net.state_dict()}, root / "resnet10.pth")
    rows = _rows(root, rng)
    return Case(["embed", str(write_manifest(root, rows)), "--store", str(root / "store"), "--weights",
                 str(root / "resnet10.pth"), "--preprocess", "none"], [
        "resnet10.pth: expected tensors of a MedicalNet ResNet-18 backbone (1-channel 3-D ResNet-18) for extractor resnet18_3d; 45 tensor(s) do not fit",
        "conv1.weight (expected (64, 1, 7, 7, 7), found (16, 1, 7, 7, 7))",
        "Use a MedicalNet ResNet-18 checkpoint"])


# --- training data (alnm-ray train) ----------------------------------------------------------
def _train(root: Path, rng: np.random.Generator, labels: list[int], *extra: str) -> list[str]:
    FeatureStore(root / "store").write_version("radiomics", long_features(rng, labels))
    (root / "selection.yaml").write_text(FAST_SELECTION, encoding="utf-8")
    return ["train", "--store", str(root / "store"), "--feature-set", "radiomics", "--classifier", "lr",
            "--selection", str(root / "selection.yaml"), "--split", "", "--out", str(root / "bundle"), *extra]


@kind
def one_class_training_data(root, rng):
    return Case(_train(root, rng, [0] * 20), [
        "training labels: expected both classes (0 and 1); found only 0 in 20 patient(s). "
        "Check the cohort and split selection."])


@kind
def too_few_positives_for_smote(root, rng):
    return Case(_train(root, rng, [1] + [0] * 19), [
        "training labels: SMOTE (smote_k=5) needs at least 2 patients of the minority class to interpolate "
        "between; found 1 with label 1 among 20 patient(s). Add patients of that class, or set "
        "`smote: false` in the --selection YAML."])


@kind
def unknown_table_version(root, rng):
    return Case(_train(root, rng, [0, 1] * 10, "--table", "radiomics@ffff"), [
        "version radiomics@ffff: expected the id (or a unique prefix, or a Delta version number) of a version "
        "of 'radiomics'; found none matching. Recent versions:", "List them with `alnm-ray features list`."])


def _tune(root: Path, rng: np.random.Generator, labels: list[int]) -> list[str]:
    _train(root, rng, labels)  # writes the store and the selection YAML
    return ["tune", "--store", str(root / "store"), "--out", str(root / "run"), "--selection",
            str(root / "selection.yaml"), "--feature-sets", "radiomics", "--classifiers", "lr", "--repeats", "1",
            "--folds", "3"]


@kind
def one_class_data_in_a_tune_sweep(root, rng):
    return Case(_tune(root, rng, [0] * 20), [
        "labels: expected both classes (0 and 1) among the 20 labelled patient(s); found only [0]."])


@kind
def too_few_positives_in_a_tune_sweep(root, rng):
    return Case(_tune(root, rng, [1] + [0] * 19), [
        "hold-out split: expected at least 2 patients of each class to stratify the train/test split; found 1 "
        "with label 1 among 20 patient(s). Add patients of that class."])


# --- scoring (alnm-ray score) ----------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A store and a bundle trained from it by the CLI (copied into each test's tmp_path)."""
    root = tmp_path_factory.mktemp("trained")
    rng = np.random.default_rng(5)
    result = CliRunner().invoke(cli, ["--quiet", *_train(root, rng, [0, 1, 1, 0, 1] * 6)])
    assert result.exit_code == 0, result.output
    return root


def _scoring(root: Path, trained: Path) -> tuple[Path, Path, dict]:
    shutil.copytree(trained / "bundle", root / "bundle")
    shutil.copytree(trained / "store", root / "store")
    return root / "bundle", root / "store", json.loads((root / "bundle" / "metadata.json").read_text(encoding="utf-8"))


@kind
def feature_table_missing_columns_at_scoring(root, rng, trained):
    bundle, _, meta = _scoring(root, trained)
    name = meta["selected_features"][0].split("__", 1)[1]
    new = long_features(rng, [0, 1] * 4, cohort="new").drop(columns=[name])  # extracted without one feature
    FeatureStore(root / "store2").write_version("radiomics", new)
    return Case(["score", str(bundle), "--features", "radiomics", "--store", str(root / "store2"),
                 "--out", str(root / "predictions.parquet")], [
        "cohort 'new' (radiomics@", "expected the 16 features the bundle was trained on, in training order; "
        "found 2 missing:", f"T2WI__{name}", f"ADC__{name}",
        "Score a table extracted with the bundle's own settings"], ray=True)


@kind
def altered_bundle(root, rng, trained):
    bundle, store, _ = _scoring(root, trained)
    data = bytearray((bundle / "model.skops").read_bytes())
    data[200] ^= 0x01
    (bundle / "model.skops").write_bytes(bytes(data))
    return Case(["score", str(bundle), "--features", "radiomics", "--store", str(store),
                 "--out", str(root / "predictions.parquet")], [
        "expected every file to match CHECKSUMS.sha256; found altered (checksum differs): model.skops. "
        "Nothing was deserialised."], ray=True)


# --- the store and outputs -------------------------------------------------------------------
@kind
def store_path_not_writable(root, rng):
    if not os.path.isdir("/sys/kernel"):
        pytest.skip("needs a Linux /sys (root ignores chmod)")
    target = Path(f"/sys/alnm-ray-store-{uuid.uuid4().hex[:8]}")
    args = _extract(root, _rows(root, rng))
    args[args.index("--store") + 1] = str(target)
    return Case(args, [f"store '{target}': could not write to the store:",
                       "make the folder writable by this user or use another --store"], outside=[target])


@kind
def store_path_is_a_file(root, rng):
    (root / "clinical.csv").write_text("patient_id,age\nPX-7301,51\nPX-7302,63\n", encoding="utf-8")
    (root / "store.txt").write_text("a file, not a folder", encoding="utf-8")
    return Case(["features", "import", str(root / "clinical.csv"), "--store", str(root / "store.txt"),
                 "--name", "clinical"], [
        f"store '{root / 'store.txt'}': could not write a version of 'clinical':",
        "a path component is a file, not a folder: choose a --store path inside a folder."])


@kind
def disk_full_during_a_version_write(root, rng):
    import pyarrow.parquet as pq

    (root / "clinical.csv").write_text("patient_id,age\nPX-7301,51\nPX-7302,63\n", encoding="utf-8")
    FeatureStore(root / "store").write_version("radiomics", long_features(rng, [0, 1]))

    class FullDisk(pq.ParquetWriter):
        def write_table(self, *args, **kwargs):
            super().write_table(*args, **kwargs)  # some bytes reach the disk, then it is full
            raise OSError(errno.ENOSPC, "No space left on device")

    return Case(["features", "import", str(root / "clinical.csv"), "--store", str(root / "store"),
                 "--name", "clinical"], [
        f"store '{root / 'store'}': could not write a version of 'clinical': [Errno 28] No space left on device;"
        " the disk is full: free space or point --store at a volume with room."],
        patch=lambda mp: mp.setattr(pq, "ParquetWriter", FullDisk))


@kind
def disk_full_writing_an_output_file(root, rng):
    if not os.path.exists("/dev/full"):
        pytest.skip("needs /dev/full")
    FeatureStore(root / "store").write_version("radiomics", long_features(rng, [0, 1]))
    return Case(["sql", "--store", str(root / "store"), "SELECT * FROM radiomics", "--format", "csv",
                 "--out", "/dev/full"],
                ["No space left on device; the disk is full: free space or write to another volume."])


@kind
def sql_that_writes_a_file(root, rng):
    FeatureStore(root / "store").write_version("radiomics", long_features(rng, [0, 1]))
    return Case(["sql", "--store", str(root / "store"), f"COPY radiomics TO '{root / 'leak.csv'}'"],
                ["read-only; expected a SELECT query; got a COPY statement"])


# --- masks that mean something else, special files, escapes, hostile ids -----------------------
def _picture_case(root: Path, mask: np.ndarray, **row: object) -> list[dict]:
    from PIL import Image

    Image.fromarray((np.random.default_rng(0).random((48, 48)) * 255).astype(np.uint8)).save(root / "mg.png")
    Image.fromarray(mask).save(root / "mask.png")
    return [{"cohort": "rel", "center": "C1", "patient_id": "PX-7301", "sequence": "MG_CC", "reader": "A",
             "image": "mg.png", "mask": "mask.png", "mask_label": 1, **row}]


@kind
def colour_coded_mask_without_a_colour_label(root, rng):
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[10:30, 10:30] = (0, 255, 0)
    rgb[12:14, 12:14] = (3, 250, 1)                  # colour noise, as in real class-coded masks
    return Case(_validate(root, _picture_case(root, rgb)), [
        "row 1, column 'mask_label': expected a grey mask (all channels equal), or mask_label given as a colour "
        "R,G,B; found mask.png: a colour-coded mask (3 colours; most frequent (0,0,0) 1904 px, (0,255,0) 396 px, "
        "(3,250,1) 4 px). Fix: set mask_label to the lesion's colour as R,G,B, e.g. 255,0,0 for red or 0,255,0 "
        "for green"])


@kind
def jpeg_mask_without_a_threshold(root, rng):
    from PIL import Image

    mask = np.zeros((48, 48), np.uint8)
    mask[10:30, 10:30] = 255
    rows = _picture_case(root, mask)
    Image.fromarray(mask).save(root / "mask.jpg", quality=75)
    (root / "mask.png").unlink()
    rows[0]["mask"] = "mask.jpg"
    return Case(_validate(root, rows), [
        "row 1, column 'mask_threshold': expected a label mask with a few distinct values, or mask_threshold; "
        "found mask.jpg:", "a lossy-compressed (JPEG) mask. Fix: set mask_threshold (foreground = value > "
        "threshold), e.g. 127 for a 0/255 mask."])


@kind
def mask_label_selecting_a_scatter_of_pixels(root, rng):
    mask = np.zeros((48, 48), np.uint8)
    mask[5:25, 5:25] = 2
    mask[30:46:3, 2:46:3] = 1
    return Case(_validate(root, _picture_case(root, mask)), [
        "row 1, column 'mask_label': expected an ROI of one or a few connected regions; found a scatter of isolated "
        "pixels: 90 px in 90 regions, 90 px in regions of 2 px or fewer. Fix: the decoding selects noise"])


@kind
def colour_label_selecting_the_background(root, rng):
    rgb = np.zeros((48, 48, 3), np.uint8)
    rgb[10:30, 10:30] = (255, 0, 0)
    rows = _picture_case(root, rgb, mask_label="0,0,0")  # black: every pixel but the lesion
    return Case(_validate(root, rows), [
        "row 1, column 'mask_label': expected an ROI inside the mask's foreground (its non-zero or coloured "
        "pixels); found 1904 of the ROI's 1904 px (100%) in the background (black or zero); the ROI is pixels "
        "of colour (0,0,0) ± 127 per channel. Fix: the decoding selects the background, not a lesion"])


@kind
def threshold_below_every_mask_value(root, rng):
    mask = np.zeros((48, 48), np.uint8)
    mask[10:30, 10:30] = 255
    rows = _picture_case(root, mask, mask_threshold=-1)
    return Case(_validate(root, rows), [
        "row 1, column 'mask_threshold': expected an ROI that leaves out the mask's background; found every "
        "pixel (2304 px) selected by values > -1: the threshold is below every mask value (lowest 0). Fix: set "
        "mask_threshold between the background and lesion values"])


@kind
def fifo_named_like_an_image(root, rng):
    if not hasattr(os, "mkfifo"):
        pytest.skip("needs FIFOs")
    rows = _rows(root, rng)
    os.mkfifo(root / "x.nii.gz")  # opening it would wait forever for a writer
    rows[1]["mask"] = "x.nii.gz"
    return Case(_validate(root, rows), [
        "row 2, column 'mask': expected a regular file or a DICOM series folder; found x.nii.gz: a FIFO (named "
        "pipe). Fix: point the manifest at the file itself (special files such as pipes and devices are never "
        "read)."])


def _escape(root: Path, rng: np.random.Generator) -> tuple[list[dict], list[str]]:
    rows = _rows(root, rng)
    rows[0]["image"] = "../../etc/passwd"
    return rows, [f"row 1, column 'image': expected a path inside the data root {str(root.resolve())!r}; "
                  "found ../../etc/passwd. Fix: move the file under --data-root or widen --data-root."]


@kind
def path_escaping_data_root_at_extraction(root, rng):
    rows, expect = _escape(root, rng)
    return Case(_extract(root, rows, "--data-root", str(root)), expect)


@kind
def path_escaping_data_root_at_embedding(root, rng):
    rows, expect = _escape(root, rng)
    return Case(["embed", str(write_manifest(root, rows)), "--store", str(root / "store"), "--preprocess", "none",
                 "--data-root", str(root)], expect)


@kind
def path_escaping_data_root_at_scoring(root, rng, trained):
    bundle, store, _ = _scoring(root, trained)
    rows, expect = _escape(root, rng)
    return Case(["score", str(bundle), "--manifest", str(write_manifest(root, rows)), "--store", str(store),
                 "--data-root", str(root)], expect)


@kind
def hostile_patient_id_in_a_manifest(root, rng):
    rows = _rows(root, rng)
    rows[0]["patient_id"] = '=HYPERLINK("http://evil","x")'
    rows[1]["cohort"] = "../../x"
    return Case(_extract(root, rows), [
        "row 1, column 'patient_id': expected an id of ASCII letters, digits, '_', '.' or '-' (starting with a "
        "letter, digit or '_', at most 128 characters); found '=HYPERLINK(\"http://evil\",\"x\")' (contains '='). "
        "Fix: rename the id using only letters", "row 2, column 'cohort':", "found '../../x' (contains '/')"])


@kind
def hostile_id_in_an_imported_table(root, rng):
    (root / "clinical.csv").write_text("patient_id,age\nPX-7301,51\n\"P\u202e1\",63\n", encoding="utf-8")
    return Case(["features", "import", str(root / "clinical.csv"), "--store", str(root / "store"),
                 "--name", "clinical"], [
        "key column 'patient_id': expected an id of ASCII letters, digits, '_', '.' or '-'",
        "found 1 invalid id(s): row 2: 'P\\u202e1' (contains '\\u202e'). Rename them"])


# --- the catalog -----------------------------------------------------------------------------
#: Kinds whose command starts Ray before it can refuse the input (score opens a Ray session first).
RAY_KINDS = {"feature_table_missing_columns_at_scoring", "altered_bundle"}


def test_the_catalog_covers_at_least_twenty_kinds() -> None:
    assert len(KINDS) >= 20, sorted(KINDS)
    assert RAY_KINDS <= set(KINDS)


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.ray, pytest.mark.slow] if n in RAY_KINDS
                                               else []) for n in sorted(KINDS)])
def test_bad_input_gets_a_clear_message_a_user_error_and_writes_nothing(
        name: str, tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    build = KINDS[name]
    extra = [request.getfixturevalue("trained")] if "trained" in build.__code__.co_varnames[:3] else []
    case = build(tmp_path, rng, *extra)
    assert case.ray == (name in RAY_KINDS)
    if case.ray:
        request.getfixturevalue("ray_local")  # one Ray for the module instead of one per command
    if case.patch is not None:
        case.patch(monkeypatch)
    before = tree(tmp_path)
    result = CliRunner().invoke(cli, ["--quiet", *case.args])
    output = result.output
    assert result.exit_code == EXIT_USER_ERROR, output
    for fragment in case.expect:
        assert fragment in output, f"{name}: missing {fragment!r} in:\n{output}"
    assert "Traceback" not in output and "internal error" not in output
    assert tree(tmp_path) == before, f"{name}: files were written or changed"
    for path in case.outside:
        assert not path.exists()
