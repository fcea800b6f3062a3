"""DICOM-SEG (highdicom) and RTSTRUCT (rt-utils) masks, decoded onto their image series.

Every file here is written by the real libraries: a CT series with pydicom,
SEGs with highdicom, RTSTRUCTs with rt-utils (and, on a grid rt-utils gets
wrong, with pydicom from physical coordinates).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import highdicom as hd
import numpy as np
import pandas as pd
import pydicom
import pytest
import SimpleITK as sitk
import yaml
from click.testing import CliRunner
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian, generate_uid
from rt_utils import RTStructBuilder

from alnm_ray.cli.main import cli
from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest.dicom_masks import dicom_mask_kind
from alnm_ray.manifest.imageio import read_image
from alnm_ray.manifest.masks import MaskDecoding, MaskSpecError, read_decoded, read_mask
from alnm_ray.manifest.validate import validate_manifest
from alnm_ray.store import FeatureStore

SHAPE = (8, 32, 40)  # (slices, rows, columns): not square, so a swapped axis cannot pass


def write_series(folder: Path, *, shape=SHAPE, spacing=(0.8, 0.6), thickness=2.5, frame: str | None = None,
                 seed: int = 0) -> Path:
    """A CT series of ``shape`` (slices, rows, columns); PixelSpacing is (row, column) spacing in mm."""
    folder.mkdir(parents=True)
    study, series, frame = generate_uid(), generate_uid(), frame or generate_uid()
    rng = np.random.default_rng(seed)
    n, rows, cols = shape
    for k in range(n):
        uid = generate_uid()
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CTImageStorage, uid
        ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds.SOPClassUID, ds.SOPInstanceUID = CTImageStorage, uid
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.FrameOfReferenceUID = study, series, frame
        ds.PatientID, ds.PatientName, ds.PatientBirthDate, ds.PatientSex = "P001", "Test^P", "19700101", "F"
        ds.StudyDate, ds.SeriesDate, ds.StudyTime, ds.AccessionNumber = "20240101", "20240101", "120000", "1"
        ds.ReferringPhysicianName, ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "", "1", 1, n - k
        ds.Modality, ds.Manufacturer = "CT", "test"
        ds.ImagePositionPatient = [-10.0, -20.0, 5.0 + k * thickness]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = list(spacing), thickness
        ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, 1, "MONOCHROME2"
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
        ds.RescaleIntercept, ds.RescaleSlope = 0, 1
        ds.PixelData = rng.normal(100, 30, (rows, cols)).astype(np.int16).tobytes()
        ds.save_as(folder / f"IM{(k * 7) % n:04d}.dcm", enforce_file_format=True)  # file names out of order
    return folder


def sources(folder: Path) -> list[pydicom.Dataset]:
    return [pydicom.dcmread(f) for f in sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))]


def write_seg(path: Path, folder: Path, segments: dict[str, np.ndarray]) -> Path:
    """A binary DICOM-SEG of ``segments`` (label -> (z, y, x) bool in SimpleITK's slice order), numbered 1…"""
    concept = hd.sr.CodedConcept
    descriptions = [hd.seg.SegmentDescription(
        segment_number=i + 1, segment_label=label,
        segmented_property_category=concept("49755003", "SCT", "Morphologically Altered Structure"),
        segmented_property_type=concept("108369006", "SCT", "Neoplasm"),
        algorithm_type=hd.seg.SegmentAlgorithmTypeValues.MANUAL) for i, label in enumerate(segments)]
    seg = hd.seg.Segmentation(
        source_images=sources(folder), pixel_array=np.stack(list(segments.values()), -1).astype(np.uint8),
        segmentation_type=hd.seg.SegmentationTypeValues.BINARY, segment_descriptions=descriptions,
        series_instance_uid=generate_uid(), series_number=2, sop_instance_uid=generate_uid(), instance_number=1,
        manufacturer="test", manufacturer_model_name="test", software_versions="0", device_serial_number="1")
    seg.save_as(path)
    return path


def write_rtstruct(path: Path, folder: Path, rois: dict[str, np.ndarray]) -> Path:
    """An RTSTRUCT of ``rois`` (name -> (z, y, x) bool) written by rt-utils (which wants (rows, cols, slices))."""
    rt = RTStructBuilder.create_new(str(folder))
    for name, roi in rois.items():
        rt.add_roi(mask=np.transpose(roi, (1, 2, 0)), name=name)
    rt.ds.save_as(path)
    return path


def lesions(shape=SHAPE) -> dict[str, np.ndarray]:
    """Two asymmetric ROIs: an L-shaped block with a hole, and a small off-centre box."""
    tumor = np.zeros(shape, bool)
    tumor[2:5, 3:11, 20:33] = True
    tumor[2:4, 11:16, 20:24] = True  # the foot of the L
    tumor[3, 5:8, 25:29] = False  # a hole
    node = np.zeros(shape, bool)
    node[5:7, 20:26, 4:9] = True
    return {"Tumor": tumor, "Node": node}


@pytest.fixture(scope="module")
def case(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("dicom")
    series = write_series(root / "ct")
    square = write_series(root / "ct_square", shape=(8, 40, 40), spacing=(0.7, 0.7), seed=1)
    return {"root": root, "series": series, "seg": write_seg(root / "seg.dcm", series, lesions()),
            "square": square, "rtstruct": write_rtstruct(root / "rt.dcm", square, lesions((8, 40, 40)))}


def test_seg_decodes_voxel_for_voxel_on_the_series_grid_by_name_or_number(case) -> None:
    truth = lesions()
    assert dicom_mask_kind(case["seg"]) == "DICOM-SEG" and dicom_mask_kind(case["series"] / "IM0000.dcm") is None
    image = read_image(case["series"])
    for label, expected in [("Tumor", "Tumor"), ("tumor ", "Tumor"), (1, "Tumor"), ("NODE", "Node"), (2, "Node")]:
        decoded = read_decoded(case["seg"], label, image=case["series"])
        np.testing.assert_array_equal(decoded.roi, truth[expected])
        assert decoded.image.GetSize() == image.GetSize() == (40, 32, 8)
        assert decoded.image.GetSpacing() == pytest.approx(image.GetSpacing())
        assert decoded.image.GetOrigin() == pytest.approx(image.GetOrigin())
        assert decoded.image.GetDirection() == pytest.approx(image.GetDirection())
    # the ROI sits where it was drawn: index (x=20, y=3, z=2) is its first voxel, at x = -10 + 20 * 0.6 mm
    mask = read_mask(case["seg"], "Tumor", image=case["series"])
    assert mask[20, 3, 2] == 1 and mask[19, 3, 2] == 0
    assert mask.TransformIndexToPhysicalPoint((20, 3, 2)) == pytest.approx((2.0, -17.6, 10.0))


def test_rtstruct_from_rt_utils_decodes_voxel_for_voxel_by_name_or_number(case) -> None:
    truth = lesions((8, 40, 40))
    assert dicom_mask_kind(case["rtstruct"]) == "RTSTRUCT"
    for label, expected in [("Tumor", "Tumor"), ("TUMOR", "Tumor"), (1, "Tumor"), ("node", "Node"), (2, "Node")]:
        decoded = read_decoded(case["rtstruct"], label, image=case["square"])
        np.testing.assert_array_equal(decoded.roi, truth[expected])
        assert decoded.image.GetSize() == (40, 40, 8)


def test_rtstruct_on_a_rectangular_anisotropic_grid_lands_where_its_contours_are(tmp_path: Path) -> None:
    """Contours written at physical positions (pydicom): rt-utils 1.2.7 cannot read this grid right."""
    series = write_series(tmp_path / "ct")
    image = read_image(series)
    truth = lesions()["Node"]
    base = RTStructBuilder.create_new(str(series)).ds  # rt-utils' structure set: references, frame of reference
    roi = Dataset()
    roi.ROINumber, roi.ROIName, roi.ROIGenerationAlgorithm = 7, "GTV", "MANUAL"
    roi.ReferencedFrameOfReferenceUID = base.ReferencedFrameOfReferenceSequence[0].FrameOfReferenceUID
    base.StructureSetROISequence.append(roi)
    contours = []
    uids = [h.SOPInstanceUID for h in sources(series)]
    for z in (5, 6):  # the box's outline through its corner pixel centres: x 4..8, y 20..25
        corners = [(4, 20), (8, 20), (8, 25), (4, 25)]
        points = [image.TransformIndexToPhysicalPoint((x, y, z)) for x, y in corners]
        contour = Dataset()
        contour.ContourGeometricType, contour.NumberOfContourPoints = "CLOSED_PLANAR", 4
        contour.ContourData = [float(v) for p in points for v in p]
        ref = Dataset()
        ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = CTImageStorage, uids[z]
        contour.ContourImageSequence = Sequence([ref])
        contours.append(contour)
    item = Dataset()
    item.ReferencedROINumber, item.ContourSequence = 7, Sequence(contours)
    base.ROIContourSequence.append(item)
    base.save_as(tmp_path / "rt.dcm")
    for label in ("gtv", 7):
        np.testing.assert_array_equal(read_decoded(tmp_path / "rt.dcm", label, image=series).roi, truth)


def test_unknown_segments_and_rois_are_listed_with_a_suggestion(case) -> None:
    with pytest.raises(ManifestError) as err:
        read_decoded(case["seg"], "Tumour", image=case["series"])
    assert err.value.column == "mask_label"
    assert err.value.problems == [
        f"{case['seg']}: expected a segment named 'Tumour'; found the segments 1 'Tumor', 2 'Node'. Set mask_label "
        "to one of these segment names or numbers. Did you mean 'Tumor'?"]
    with pytest.raises(ManifestError, match=r"expected segment number 3; found the segments 1 'Tumor', 2 'Node'"):
        read_decoded(case["seg"], 3, image=case["series"])
    with pytest.raises(ManifestError) as err:
        read_decoded(case["rtstruct"], "nodes", image=case["square"])
    assert err.value.problems == [
        f"{case['rtstruct']}: expected a ROI named 'nodes'; found the ROIs 1 'Tumor', 2 'Node'. Set mask_label "
        "to one of these ROI names or numbers. Did you mean 'Node'?"]


def test_a_seg_of_another_series_or_frame_of_reference_is_refused(case, tmp_path: Path) -> None:
    seg_uid = pydicom.dcmread(case["seg"]).ReferencedSeriesSequence[0].SeriesInstanceUID
    frame = sources(case["series"])[0].FrameOfReferenceUID
    other = write_series(tmp_path / "other", frame=frame, seed=3)  # same patient space, another series
    with pytest.raises(ManifestError) as err:
        read_decoded(case["seg"], "Tumor", image=other)
    other_uid = sources(other)[0].SeriesInstanceUID
    assert err.value.column == "mask" and err.value.problems == [
        f"{case['seg']}: expected a DICOM-SEG referencing the image series {other_uid}; found a DICOM-SEG "
        f"referencing series {seg_uid}. Point the row's image at the series the DICOM-SEG was drawn on, or the "
        "mask at the DICOM-SEG of series 'other'."]
    elsewhere = write_series(tmp_path / "elsewhere", seed=4)
    with pytest.raises(ManifestError, match=rf"expected a DICOM-SEG in the image series' frame of reference "
                                            rf"[\d.]+; found frame of reference {frame}\. Point the row's image"):
        read_decoded(case["seg"], "Tumor", image=elsewhere)
    with pytest.raises(ManifestError, match=r"expected an RTSTRUCT in the image series' frame of reference"):
        read_decoded(case["rtstruct"], "Tumor", image=case["series"])


def test_names_need_a_dicom_mask_and_dicom_masks_need_their_series(case, tmp_path: Path) -> None:
    nifti = tmp_path / "mask.nii.gz"
    sitk.WriteImage(sitk.GetImageFromArray(lesions()["Tumor"].astype(np.uint8)), str(nifti))
    with pytest.raises(ManifestError) as err:
        read_decoded(nifti, "Tumor")
    assert err.value.column == "mask_label" and "expected a DICOM-SEG or RTSTRUCT file for a segment/ROI name" \
        in err.value.problems[0]
    with pytest.raises(ManifestError) as err:
        read_decoded(case["seg"], "Tumor", image=nifti)
    assert err.value.column == "image" and err.value.problems == [
        f"{case['seg']}: expected a DICOM series folder as the row's image (a DICOM-SEG mask is decoded onto it); "
        "found the image 'mask.nii.gz' is a file. Point the row's image at the DICOM series folder the DICOM-SEG "
        "was drawn on (its frames are placed by that series' instances)."]
    with pytest.raises(ManifestError, match="expected a segment/ROI name or number as mask_label for this DICOM-SEG"):
        read_decoded(case["seg"], "255,0,0", image=case["series"])


def test_segment_names_are_tokens_that_reach_the_case_hash() -> None:
    from alnm_ray.extract.hashing import case_hash

    decoding = MaskDecoding.from_columns(" Tumor ")
    assert decoding.token() == "Tumor" and MaskDecoding.from_token("Tumor") == decoding
    assert MaskDecoding.from_columns("GTV-1 left").name == "GTV-1 left"
    with pytest.raises(MaskSpecError) as err:
        MaskDecoding.from_columns("Tumor", None, 127)
    assert err.value.column == "mask_threshold"
    common = dict(key=("c",), image_sha256="a", mask_sha256="b", preprocess_hash="p", params_hash="q", versions={})
    hashes = {case_hash(mask_label=label, **common) for label in ("Tumor", "Node", 1, 2)}
    assert len(hashes) == 4


@pytest.mark.ray
@pytest.mark.slow
def test_validate_and_extract_give_the_features_of_the_equivalent_nifti_mask(case, ray_local, tmp_path) -> None:
    root = tmp_path
    shutil.copytree(case["series"], root / "ct")
    shutil.copytree(case["square"], root / "sq")
    shutil.copy(case["seg"], root / "seg.dcm")
    shutil.copy(case["rtstruct"], root / "rt.dcm")
    for folder, name, shape in (("ct", "seg_tumor", SHAPE), ("sq", "rt_tumor", (8, 40, 40))):
        label = sitk.GetImageFromArray(lesions(shape)["Tumor"].astype(np.uint8))
        label.CopyInformation(read_image(root / folder))
        sitk.WriteImage(label, str(root / f"{name}.nii.gz"))
    key = dict(cohort="dicom", center="C1", sequence="T2WI", label=1)
    pd.DataFrame([
        dict(key, patient_id="P1", reader="A", image="ct", mask="seg.dcm", mask_label="tumor"),
        dict(key, patient_id="P1", reader="B", image="ct", mask="seg_tumor.nii.gz", mask_label=1),
        dict(key, patient_id="P2", reader="A", image="sq", mask="rt.dcm", mask_label=1),
        dict(key, patient_id="P2", reader="B", image="sq", mask="rt_tumor.nii.gz", mask_label=1),
    ]).to_csv(root / "m.csv", index=False)
    report, df = validate_manifest(root / "m.csv")
    assert report.ok, report.summary()
    assert df["mask_label"].tolist() == ["tumor", 1, 1, 1]
    validated = CliRunner().invoke(cli, ["validate", str(root / "m.csv")])
    assert validated.exit_code == 0, validated.output
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump({"imageType": {"Original": {}}, "setting": {"binWidth": 25},
                                      "featureClass": {"shape": None, "firstorder": None}}), encoding="utf-8")
    result = CliRunner().invoke(cli, ["--quiet", "extract", str(root / "m.csv"), "--store", str(root / "store"),
                                      "--params", str(params), "--preprocess", "none"])
    assert result.exit_code == 0, result.output
    table = FeatureStore(root / "store").read("radiomics").to_pandas().set_index(["patient_id", "reader"])
    features = [c for c in table.columns if c.startswith("original_")]
    assert len(features) > 20 and table.loc[("P1", "A"), "original_shape_VoxelVolume"] > 0
    for pid in ("P1", "P2"):
        pd.testing.assert_series_equal(table.loc[(pid, "A"), features], table.loc[(pid, "B"), features],
                                       check_names=False)
