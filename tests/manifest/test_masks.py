"""Mask decoding on real mammography masks: colours, JPEG edges, scatters — never a silent guess."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import SimpleITK as sitk

from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest import MaskDecoding, mask_tokens, read_mask, validate_manifest
from alnm_ray.manifest.masks import MaskSpecError, read_decoded

CESM = "cdd-cesm-mini"
GMIC = "gmic-nyu-mammo"
KEY = {"cohort": "cesm", "center": "C1", "sequence": "MG_CC", "reader": "A"}


@pytest.fixture
def cesm(shared_data: str) -> tuple[Path, pd.DataFrame]:
    root = Path(shared_data) / CESM
    if not root.is_dir():
        pytest.skip(f"{CESM} not present")
    return root, pd.read_csv(root / "index.csv")


def _manifest(tmp_path: Path, rows: list[dict]) -> Path:
    path = tmp_path / "manifest.csv"
    pd.DataFrame([{**KEY, "patient_id": f"P{i}", **row} for i, row in enumerate(rows)]).to_csv(path, index=False)
    return path


def _pixels(image: sitk.Image) -> int:
    return int(sitk.GetArrayViewFromImage(image).sum())


def test_colour_decoding_gives_the_readme_lesion_counts_on_every_set_b_mask(cesm) -> None:
    root, index = cesm
    set_b = index[index["set"] == "set_b"]
    assert len(set_b) == 24
    for row in set_b.itertuples():
        benign = _pixels(read_mask(root / row.mask, "0,255,0"))
        malignant = _pixels(read_mask(root / row.mask, "255,0,0"))
        # the README's rule: benign = G>127 & R<128, malignant = R>127 & G<128
        rgb = sitk.GetArrayFromImage(sitk.ReadImage(str(root / row.mask))).astype(int)
        assert benign == int(((rgb[..., 1] > 127) & (rgb[..., 0] < 128)).sum()) == int(row.benign_pixels)
        assert malignant == int(((rgb[..., 0] > 127) & (rgb[..., 1] < 128)).sum()) == int(row.malignant_pixels)


def test_the_benign_mask_that_grey_averaging_got_wrong(cesm) -> None:
    root, index = cesm
    row = index[(index["set"] == "set_b") & (index["benign_pixels"] == 6940)].iloc[0]
    # grey averaging selected 3,142 noise pixels (label 1) or 1,402 (label 85): now refused, with the fix
    for label in (1, 85):
        with pytest.raises(ManifestError) as err:
            read_mask(root / row["mask"], label)
        assert err.value.expected == "a grey mask (all channels equal), or mask_label given as a colour R,G,B"
        assert err.value.found.startswith("a colour-coded mask (")
        assert "(0,255,0)" in err.value.found
        assert "Set mask_label to the lesion's colour as R,G,B, e.g. 255,0,0" in err.value.fix
    assert _pixels(read_mask(root / row["mask"], "0,255,0")) == 6940


def test_validate_refuses_undecoded_colour_masks_and_accepts_decoded_ones(tmp_path: Path, cesm) -> None:
    root, index = cesm
    set_b = index[index["set"] == "set_b"].head(6)
    rows = [{"image": str(root / r.image), "mask": str(root / r.mask), "mask_label": 1} for r in set_b.itertuples()]
    report, _ = validate_manifest(_manifest(tmp_path, rows))
    assert len(report.problems) == 6
    problem = report.problems[0]
    assert (problem.column, problem.expected) == (
        "mask_label", "a grey mask (all channels equal), or mask_label given as a colour R,G,B")
    assert "a colour-coded mask (" in problem.found and "0,255,0 for green" in problem.fix
    colours = ["0,255,0" if r.mask_class.startswith("benign") else "255,0,0" for r in set_b.itertuples()]
    rows = [{**row, "mask_label": colour} for row, colour in zip(rows, colours)]
    report, df = validate_manifest(_manifest(tmp_path, rows))
    assert report.ok, report.lines()
    assert df["mask_label"].tolist() == [f"{c}~127" for c in colours]  # the token the jobs carry


def test_a_wrong_colour_is_reported_with_what_the_mask_holds(tmp_path: Path, cesm) -> None:
    root, index = cesm
    row = index[index["mask_class"].str.startswith("malignant")].iloc[0]
    report, _ = validate_manifest(_manifest(tmp_path, [{"image": str(root / row["image"]),
                                                        "mask": str(root / row["mask"]), "mask_label": "0,255,0"}]))
    assert [str(p) for p in report.problems] == [
        "row 1, column 'mask_label': expected pixels of colour (0,255,0) ± 127 per channel in the mask; found "
        "no such pixels (colours (0,0,0), (255,0,0)). Fix: set mask_label to the lesion's colour (or raise "
        "mask_color_tolerance), or re-draw the ROI."]


def test_colour_tolerance_is_a_manifest_column(tmp_path: Path, cesm) -> None:
    root, index = cesm
    row = index[(index["set"] == "set_b") & (index["benign_pixels"] == 6940)].iloc[0]
    tight = read_decoded(root / row["mask"], MaskDecoding.from_columns("0,255,0", tolerance=10))
    assert 0 < int(tight.roi.sum()) < 6940
    report, df = validate_manifest(_manifest(tmp_path, [{"image": str(root / row["image"]),
                                                         "mask": str(root / row["mask"]), "mask_label": "0,255,0",
                                                         "mask_color_tolerance": 300}]))
    assert [(p.column, p.expected, p.found) for p in report.problems] == [
        ("mask_color_tolerance", "a number <= 254", "300")]


def test_jpeg_masks_are_reported_without_a_threshold_and_accepted_with_one(tmp_path: Path, cesm) -> None:
    root, index = cesm
    set_a = index[index["set"] == "set_a"].head(4)
    rows = [{"image": str(root / r.image), "mask": str(root / r.mask)} for r in set_a.itertuples()]
    report, _ = validate_manifest(_manifest(tmp_path, rows))
    assert len(report.problems) == 4
    first = report.problems[0]
    assert first.column == "mask_threshold"
    assert first.expected == "a label mask with a few distinct values, or mask_threshold"
    assert first.found.startswith(Path(set_a.iloc[0]["mask"]).name + ": ")
    assert "distinct values (0, 1, 2, 3, 4, 5 …): a lossy-compressed (JPEG) mask" in first.found
    assert first.fix == "set mask_threshold (foreground = value > threshold), e.g. 127 for a 0/255 mask."
    report, df = validate_manifest(_manifest(tmp_path, [{**r, "mask_threshold": 127} for r in rows]))
    assert report.ok, report.lines()
    assert df["mask_label"].tolist() == [">127"] * 4
    for r in set_a.itertuples():  # the README's rule: mean(RGB) > 127
        assert _pixels(read_mask(root / r.mask, ">127")) == int(r.mask_foreground_pixels)


def test_binary_0_255_masks_of_16_bit_mammograms_still_need_no_option(tmp_path: Path, shared_data: str) -> None:
    root = Path(shared_data) / GMIC
    if not root.is_dir():
        pytest.skip(f"{GMIC} not present")
    rows = [{"image": str(root / "images" / f"0_R-{v}.png"), "mask": str(root / "masks" / f"0_R-{v}_benign.png"),
             "mask_label": 1} for v in ("CC", "MLO")]
    report, _ = validate_manifest(_manifest(tmp_path, rows))
    assert report.ok, report.lines()
    assert [_pixels(read_mask(r["mask"], 1)) for r in rows] == [20440, 25151]


def _write_png(path: Path, arr: np.ndarray) -> Path:
    from PIL import Image

    Image.fromarray(arr).save(path)
    return path


def _image(tmp_path: Path) -> Path:
    return _write_png(tmp_path / "img.png", (np.random.default_rng(0).random((64, 64)) * 255).astype(np.uint8))


def test_a_scatter_of_isolated_pixels_is_reported(tmp_path: Path) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[10:30, 10:30] = 2                       # the lesion
    mask[40:60:3, 5:60:3] = 1                    # label 1: isolated specks (e.g. noise)
    _write_png(tmp_path / "mask.png", mask)
    rows = [{"image": str(_image(tmp_path)), "mask": str(tmp_path / "mask.png"), "mask_label": 1}]
    report, _ = validate_manifest(_manifest(tmp_path, rows))
    assert [str(p) for p in report.problems] == [
        "row 1, column 'mask_label': expected an ROI of one or a few connected regions; found a scatter of "
        "isolated pixels: 133 px in 133 regions, 133 px in regions of 2 px or fewer. Fix: the decoding selects "
        "noise, not a lesion: set mask_label to the lesion's value or colour (mask_threshold for compressed masks)."]
    report, _ = validate_manifest(_manifest(tmp_path, [{**rows[0], "mask_label": 2}]))
    assert report.ok, report.lines()


def test_an_roi_much_smaller_than_the_mask_is_reported_unless_allowed(tmp_path: Path) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[5:40, 5:40] = 1
    mask[45:55, 45:55] = 2
    _write_png(tmp_path / "mask.png", mask)
    rows = [{"image": str(_image(tmp_path)), "mask": str(tmp_path / "mask.png"), "mask_label": 2}]
    report, _ = validate_manifest(_manifest(tmp_path, rows))
    assert [str(p) for p in report.problems] == [
        "row 1, column 'mask_label': expected an ROI covering at least 50% of the mask's non-zero pixels; found "
        "100 of 1325 px (8%) selected by voxels with value 2. Fix: set mask_label (a value or an R,G,B colour) or "
        "mask_threshold so it selects the whole lesion; if the mask labels several structures on purpose, "
        "validate with --allow-partial-roi."]
    report, _ = validate_manifest(_manifest(tmp_path, rows), allow_partial_roi=True)
    assert report.ok, report.lines()


def test_a_colour_label_on_a_grey_mask_is_refused(tmp_path: Path) -> None:
    mask = np.zeros((64, 64), np.uint8)
    mask[5:40, 5:40] = 1
    _write_png(tmp_path / "mask.png", mask)
    with pytest.raises(ManifestError, match="expected a colour .RGB. mask for a colour mask_label; found a "
                                            "single-channel .grey. mask. Give mask_label as the lesion's integer"):
        read_mask(tmp_path / "mask.png", "255,0,0")


def test_decoding_tokens_round_trip_and_bad_cells_name_their_column() -> None:
    for cells, token in [((None,), 1), ((2,), 2), (("3",), 3), ((2.0,), 2), (("255, 0,0",), "255,0,0~127"),
                         (("0,255,0", 40), "0,255,0~40"), ((1, None, 127), ">127"), ((None, None, "0.5"), ">0.5")]:
        decoding = MaskDecoding.from_columns(*cells)
        assert decoding.token() == token
        assert MaskDecoding.from_token(decoding.token()) == decoding
        assert MaskDecoding.from_token(str(decoding.token())) == decoding
    for cells, column in [(("256,0,0",), "mask_label"), (("-2",), "mask_label"), ((0,), "mask_label"),
                          ((1.5,), "mask_label"), (("255,0,0", 300), "mask_color_tolerance"),
                          (("255,0,0", None, 127), "mask_threshold"), ((1, None, "x"), "mask_threshold")]:
        with pytest.raises(MaskSpecError) as err:
            MaskDecoding.from_columns(*cells)
        assert err.value.column == column


def test_mask_tokens_is_idempotent_and_lists_bad_rows() -> None:
    df = pd.DataFrame({"mask_label": [1, "255,0,0", None], "mask_threshold": [None, None, 127]})
    tokens = mask_tokens(df)
    assert tokens.tolist() == [1, "255,0,0~127", ">127"]
    assert mask_tokens(df.assign(mask_label=tokens)).tolist() == tokens.tolist()
    assert mask_tokens(pd.DataFrame({"mask_label": [1, 2]})).dtype == np.int64
    with pytest.raises(ManifestError, match=r"row 2, column 'mask_label': expected an integer label >= 1"):
        mask_tokens(pd.DataFrame({"mask_label": [1, "0"]}))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_reading_a_fifo_mask_refuses_without_opening(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "mask.nii.gz")
    with pytest.raises(ManifestError, match="expected a regular file or a DICOM series folder; found a FIFO"):
        read_mask(tmp_path / "mask.nii.gz")  # would block forever if it opened the pipe
