"""Masks from clinical systems: DICOM-SEG and RTSTRUCT files, decoded onto the image series' grid.

A manifest row's ``mask`` may be a single DICOM file whose SOP Class is
Segmentation Storage (DICOM-SEG, :data:`SEG_STORAGE`) or RT Structure Set
Storage (RTSTRUCT, :data:`RTSTRUCT_STORAGE`).  Its ``image`` must then be
the DICOM series folder the segmentation was drawn on, and ``mask_label``
picks one segment (SEG) or ROI (RTSTRUCT): by number (``1`` …) or by name
(``SegmentLabel`` / ``ROIName``, case-insensitive).

* DICOM-SEG frames are decoded with highdicom
  (:meth:`highdicom.seg.Segmentation.get_pixels_by_source_instance`) and
  matched to the series' instances by SOP Instance UID, in the order
  SimpleITK's series reader stacks them, so the ROI lies on the image grid
  voxel for voxel.
* RTSTRUCT contours are rasterised here, with pydicom and scikit-image:
  each closed planar contour is mapped to continuous voxel indices with the
  series' geometry (as SimpleITK reads it), filled (pixel centres inside,
  plus the rasterised outline, holes by even-odd rule) on its slice.
  rt-utils 1.2.7 (its latest release) was not used for reading: it swaps
  rows and columns on non-square images (a 32 × 40 series comes back as
  40 × 32) and multiplies the row direction by the row spacing (the
  column spacing is right), so contours land in the wrong place on
  anisotropic pixels; its round trip hides both, since its writer makes
  the mirror-image error.

A SEG or RTSTRUCT that refers to another series or frame of reference is
refused, naming both UIDs; so is one whose frames or contours do not match
the series' grid.  Reading only the header (``stop_before_pixels``) tells
the two SOP classes apart from any other DICOM file.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import SimpleITK as sitk

from alnm_ray._validation import did_you_mean
from alnm_ray.constants import COL_IMAGE, COL_MASK, COL_MASK_LABEL
from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest.imageio import read_dicom_series, unreadable
from alnm_ray.manifest.paths import file_kind
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

#: SOP Class UID of Segmentation Storage (DICOM-SEG).
SEG_STORAGE = "1.2.840.10008.5.1.4.1.1.66.4"
#: SOP Class UID of RT Structure Set Storage (RTSTRUCT).
RTSTRUCT_STORAGE = "1.2.840.10008.5.1.4.1.1.481.3"
#: Kinds returned by :func:`dicom_mask_kind`.
KINDS = {SEG_STORAGE: "DICOM-SEG", RTSTRUCT_STORAGE: "RTSTRUCT"}
#: Largest distance (in slices) of a contour's plane from the nearest slice centre.
SLICE_TOLERANCE = 0.25
#: Suffixes probed for a DICOM header (files without a suffix too).
_PROBED = (".dcm", "")


def _a(kind: str) -> str:
    """``kind`` with its article ("a DICOM-SEG", "an RTSTRUCT")."""
    return ("an " if kind[0] in "AEFHILMNORSX" else "a ") + kind


def _error(path: Path, expected: str, found: str, fix: str, column: str) -> ManifestError:
    err = unreadable(path, expected, found, fix[:1].upper() + fix[1:])
    err.column = column  # type: ignore[attr-defined]
    return err


def dicom_mask_kind(path: PathLike) -> str | None:
    """``"DICOM-SEG"`` or ``"RTSTRUCT"`` for such a file, else ``None`` (from its header only).

    Only regular files named ``*.dcm`` or without a suffix are probed (after
    the special-file check of :func:`~alnm_ray.manifest.paths.file_kind`;
    nothing else is opened), and only the header up to the SOP Class UID is read.

    Raises:
        FileNotFoundError: When the path does not exist.
    """
    p = Path(path)
    if file_kind(p) is not None or p.suffix.lower() not in _PROBED:
        return None
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(p, stop_before_pixels=True, specific_tags=["SOPClassUID"])
    except (InvalidDicomError, OSError, ValueError, EOFError):
        return None
    return KINDS.get(str(ds.get("SOPClassUID", "")))


@dataclass(frozen=True)
class DicomSeries:
    """A DICOM image series as SimpleITK stacks it, with each slice's header.

    Attributes:
        folder: The series folder.
        image: The series read by SimpleITK (geometry reference; ``(x, y, z)`` index order).
        headers: pydicom headers of the slices, ``headers[k]`` is slice ``k`` of ``image``.
    """

    folder: Path
    image: sitk.Image
    headers: tuple[Any, ...]

    @property
    def series_uid(self) -> str:
        """SeriesInstanceUID of the series."""
        return str(self.headers[0].get("SeriesInstanceUID", ""))

    @property
    def frame_of_reference(self) -> str:
        """FrameOfReferenceUID of the series."""
        return str(self.headers[0].get("FrameOfReferenceUID", ""))

    @property
    def sop_uids(self) -> list[str]:
        """SOP Instance UIDs of the slices, slice 0 first."""
        return [str(h.SOPInstanceUID) for h in self.headers]


def read_series(image: PathLike | None, mask: Path, kind: str) -> DicomSeries:
    """Read the image series a SEG or RTSTRUCT ``mask`` is decoded onto.

    Raises:
        ManifestError: When no image is given or it is not a DICOM series folder.
    """
    import pydicom

    fix = (f"point the row's image at the DICOM series folder the {kind} was drawn on (its "
           f"{'frames' if kind == 'DICOM-SEG' else 'contours'} are placed by that series' instances).")
    if image is None:
        raise _error(mask, f"the image series to place the {kind} on", "no image given", fix, COL_IMAGE)
    folder = Path(image)
    if file_kind(folder) != "a folder":
        raise _error(mask, f"a DICOM series folder as the row's image ({_a(kind)} mask is decoded onto it)",
                     f"the image {folder.name!r} is a file", fix, COL_IMAGE)
    volume = read_dicom_series(folder)
    files = sitk.ImageSeriesReader.GetGDCMSeriesFileNames(str(folder))
    headers = tuple(pydicom.dcmread(f, stop_before_pixels=True) for f in files)
    return DicomSeries(folder, volume, headers)


def _check_references(mask: Path, kind: str, series: DicomSeries, series_uids: set[str],
                      frame_uids: set[str]) -> None:
    """Refuse a SEG/RTSTRUCT drawn on another series or in another frame of reference."""
    fix = (f"point the row's image at the series the {kind} was drawn on, or the mask at the {kind} "
           f"of series {series.folder.name!r}.")
    if frame_uids and series.frame_of_reference not in frame_uids:
        raise _error(mask, f"{_a(kind)} in the image series' frame of reference {series.frame_of_reference}",
                     f"frame of reference {', '.join(sorted(frame_uids)[:3])}", fix, COL_MASK)
    if series_uids and series.series_uid not in series_uids:
        raise _error(mask, f"{_a(kind)} referencing the image series {series.series_uid}",
                     f"{_a(kind)} referencing series {', '.join(sorted(series_uids)[:3])}", fix, COL_MASK)


def _select(mask: Path, kind: str, options: list[tuple[int, str]], number: int, name: str | None) -> int:
    """The number of the segment/ROI named (case-insensitive) or numbered by ``mask_label``."""
    what = "segment" if kind == "DICOM-SEG" else "ROI"
    listed = ", ".join(f"{n} {label!r}" for n, label in sorted(options)[:8]) + (" …" if len(options) > 8 else "")
    if name is not None:
        hits = [n for n, label in options if label.strip().lower() == name.strip().lower()]
        if len(hits) == 1:
            return hits[0]
        if hits:
            raise _error(mask, f"one {what} named {name!r}", f"{len(hits)} {what}s of that name ({listed})",
                         f"give mask_label as the {what} number instead.", COL_MASK_LABEL)
        hint = did_you_mean(name, [label for _, label in options]).strip()
        raise _error(mask, f"a {what} named {name!r}", f"the {what}s {listed}",
                     f"set mask_label to one of these {what} names or numbers.{' ' + hint if hint else ''}",
                     COL_MASK_LABEL)
    if number not in {n for n, _ in options}:
        raise _error(mask, f"{what} number {number}", f"the {what}s {listed}",
                     f"set mask_label to one of these {what} numbers or names.", COL_MASK_LABEL)
    return number


def decode_seg(mask: Path, series: DicomSeries, number: int, name: str | None) -> np.ndarray:
    """One segment of a DICOM-SEG as a boolean ``(z, y, x)`` array on the series' grid.

    Args:
        mask: The SEG file.
        series: The image series it was drawn on.
        number: Segment number (used when ``name`` is ``None``).
        name: Segment label (case-insensitive).

    Raises:
        ManifestError: When the SEG refers to another series or frame of
            reference, names no such segment, or its frames do not match the series.
    """
    import highdicom as hd

    try:
        seg = hd.seg.segread(mask)
    except Exception as err:  # highdicom raises ValueError/AttributeError/KeyError on malformed SEGs
        raise _error(mask, "a readable DICOM-SEG", f"highdicom could not read it ({type(err).__name__}: "
                     f"{str(err)[:160]})", "re-export the segmentation from its source system.", COL_MASK) from err
    series_uids = {str(item.SeriesInstanceUID) for item in seg.get("ReferencedSeriesSequence", [])}
    frames = {str(seg.FrameOfReferenceUID)} if "FrameOfReferenceUID" in seg else set()
    _check_references(mask, "DICOM-SEG", series, series_uids, frames)
    options = [(int(d.SegmentNumber), str(d.get("SegmentLabel", ""))) for d in seg.SegmentSequence]
    chosen = _select(mask, "DICOM-SEG", options, number, name)
    size = series.image.GetSize()
    if (int(seg.Rows), int(seg.Columns)) != (size[1], size[0]):
        raise _error(mask, f"frames of the image's {size[1]} rows × {size[0]} columns",
                     f"frames of {seg.Rows} rows × {seg.Columns} columns",
                     "export the segmentation on the image's own grid.", COL_MASK)
    try:
        pixels = seg.get_pixels_by_source_instance(series.sop_uids, segment_numbers=[chosen],
                                                   assert_missing_frames_are_empty=True)
    except (ValueError, RuntimeError, KeyError) as err:
        raise _error(mask, "DICOM-SEG frames that map onto the image series' instances",
                     f"highdicom refused the mapping ({str(err)[:200]})",
                     "export the segmentation from the same series (spatial locations preserved).",
                     COL_MASK) from err
    values = pixels[..., 0]
    fractional = str(seg.SegmentationType).upper() == "FRACTIONAL"
    return np.asarray(values >= 0.5 if fractional else values > 0, dtype=bool)


def _to_index(points: np.ndarray, image: sitk.Image) -> np.ndarray:
    """Physical points ``(n, 3)`` (mm) -> continuous ``(x, y, z)`` indices of ``image``."""
    direction = np.asarray(image.GetDirection(), float).reshape(3, 3)
    matrix = direction @ np.diag(image.GetSpacing())
    return np.linalg.solve(matrix, (points - np.asarray(image.GetOrigin(), float)).T).T


def _fill(rows: np.ndarray, cols: np.ndarray, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(pixels whose centres are inside, pixels on the rasterised outline) of one polygon."""
    from skimage.draw import polygon, polygon_perimeter

    inside = np.zeros(shape, bool)
    inside[polygon(rows, cols, shape)] = True
    edge = np.zeros(shape, bool)
    rr, cc = polygon_perimeter(np.rint(rows).astype(int), np.rint(cols).astype(int))
    keep = (rr >= 0) & (rr < shape[0]) & (cc >= 0) & (cc < shape[1])
    edge[rr[keep], cc[keep]] = True
    return inside, edge


def decode_rtstruct(mask: Path, series: DicomSeries, number: int, name: str | None) -> np.ndarray:
    """One ROI of an RTSTRUCT as a boolean ``(z, y, x)`` array on the series' grid.

    Closed planar contours are filled on the slice whose plane they lie in:
    pixels whose centres are inside, plus the pixels of the outline (so a
    contour through boundary pixel centres, as rt-utils and most planning
    systems write them, gives back those pixels); several contours on one
    slice combine by the even-odd rule (an inner contour is a hole).

    Raises:
        ManifestError: When the RTSTRUCT refers to another series or frame of
            reference, names no such ROI, or a contour lies off the series' slices.
    """
    import pydicom

    ds = pydicom.dcmread(mask)
    frames: set[str] = set()
    series_uids: set[str] = set()
    for ref in ds.get("ReferencedFrameOfReferenceSequence", []):
        frames.add(str(ref.FrameOfReferenceUID))
        for study in ref.get("RTReferencedStudySequence", []):
            series_uids.update(str(s.SeriesInstanceUID) for s in study.get("RTReferencedSeriesSequence", []))
    rois = {int(r.ROINumber): r for r in ds.get("StructureSetROISequence", [])}
    roi_frames = {str(r.ReferencedFrameOfReferenceUID) for r in rois.values() if "ReferencedFrameOfReferenceUID" in r}
    _check_references(mask, "RTSTRUCT", series, series_uids, frames | roi_frames)
    chosen = _select(mask, "RTSTRUCT", [(n, str(r.get("ROIName", ""))) for n, r in rois.items()], number, name)
    image = series.image
    size = image.GetSize()
    out = np.zeros((size[2], size[1], size[0]), bool)
    edges = np.zeros_like(out)
    contours = [c for item in ds.get("ROIContourSequence", []) if int(item.ReferencedROINumber) == chosen
                for c in item.get("ContourSequence", [])]
    closed = [c for c in contours if str(c.get("ContourGeometricType", "CLOSED_PLANAR")) == "CLOSED_PLANAR"]
    if contours and not closed:
        raise _error(mask, f"closed planar contours for ROI {chosen}",
                     f"only {', '.join(sorted({str(c.ContourGeometricType) for c in contours}))} contours",
                     "export the ROI as closed contours (points and open lines enclose no area).", COL_MASK_LABEL)
    for contour in closed:
        points = np.asarray(contour.ContourData, float).reshape(-1, 3)
        index = _to_index(points, image)
        z = float(np.median(index[:, 2]))
        k = int(np.rint(z))
        if not (0 <= k < size[2]) or np.max(np.abs(index[:, 2] - k)) > SLICE_TOLERANCE:
            raise _error(mask, f"contours in the planes of the series' {size[2]} slices",
                         f"a contour of ROI {chosen} at slice index {z:.2f} (z = {points[0, 2]:g} mm)",
                         "export the RTSTRUCT from the series it was drawn on (same slices and orientation).",
                         COL_MASK)
        inside, edge = _fill(index[:, 1], index[:, 0], (size[1], size[0]))
        out[k] ^= inside
        edges[k] |= edge
    return out | edges


def decode_dicom_mask(mask: PathLike, kind: str, image: PathLike | None, number: int,
                      name: str | None) -> tuple[np.ndarray, sitk.Image]:
    """Decode one segment/ROI of a DICOM-SEG or RTSTRUCT onto its image series.

    Args:
        mask: The SEG or RTSTRUCT file.
        kind: ``"DICOM-SEG"`` or ``"RTSTRUCT"`` (see :func:`dicom_mask_kind`).
        image: The DICOM series folder the mask was drawn on.
        number: Segment/ROI number (used when ``name`` is ``None``).
        name: Segment label / ROI name, case-insensitive.

    Returns:
        ``(roi, geometry)``: a boolean ``(z, y, x)`` array and the series'
        image, whose size, spacing, origin and direction the ROI has.

    Raises:
        ManifestError: Naming the column to change (``image``, ``mask`` or ``mask_label``).
    """
    path = Path(mask)
    series = read_series(image, path, kind)
    decode = decode_seg if kind == "DICOM-SEG" else decode_rtstruct
    return decode(path, series, number, name), series.image
