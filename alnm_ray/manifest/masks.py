"""How a mask file becomes an ROI: integer labels, colours, thresholds — never a guess.

A manifest row says how its mask is decoded:

* ``mask_label`` an integer (default 1): the ROI is where the mask equals it.
  A 0/255 mask with the default label 1 selects the 255 pixels.
* ``mask_label`` a colour ``R,G,B`` (e.g. ``255,0,0``): for class-coded RGB
  masks.  A pixel is in the ROI when every channel is within
  ``mask_color_tolerance`` (default :data:`DEFAULT_COLOR_TOLERANCE`) of the
  colour; 127 puts each channel on the colour's side of mid-grey, which
  decodes 0/255 palettes with colour noise (benign green ``0,255,0`` becomes
  ``G>127 & R<128 & B<128``).
* ``mask_threshold`` a number: foreground = value > threshold, for masks
  saved with lossy compression (JPEG) or resampled with interpolation.
* ``mask_label`` a name (any text with a letter, e.g. ``Tumor``): the segment
  of a DICOM-SEG or the ROI of an RTSTRUCT of that name (case-insensitive);
  an integer picks a segment/ROI by number.  Those masks are decoded onto
  the row's image series by :mod:`alnm_ray.manifest.dicom_masks`.

Anything else is refused, naming the fix: a colour mask without a colour
label (averaging channels to grey turns red into 76 and green into 85, so an
integer label selects noise), and a mask with many distinct values (JPEG
edges) without a threshold.  :func:`read_mask` is what ``validate``,
``extract`` and ``embed`` all use, so validated masks and extracted ROIs
agree.  :func:`roi_issues` adds the checks only ``validate`` makes: an empty
ROI, an ROI that is mostly the mask's background (a colour label near black)
or every pixel (a threshold below every value), an ROI that is a scatter of
isolated pixels, and one much smaller than the mask's foreground.

The decoding travels through jobs as one token (:meth:`MaskDecoding.token`):
an int for a plain label (so case hashes of existing stores do not change),
``"R,G,B~T"`` for a colour, ``">T"`` for a threshold, the name itself for a
segment/ROI name.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import SimpleITK as sitk

from alnm_ray.constants import COL_MASK_LABEL, DEFAULT_MASK_LABEL
from alnm_ray.exceptions import ManifestError, MaskSpecError
from alnm_ray.manifest.imageio import read_pixels, unreadable
from alnm_ray.typing import PathLike

#: Manifest column: per-channel tolerance of a colour ``mask_label``.
COL_MASK_COLOR_TOLERANCE = "mask_color_tolerance"
#: Manifest column: foreground = mask value > this number.
COL_MASK_THRESHOLD = "mask_threshold"
#: Default per-channel tolerance of a colour label (each channel on the colour's side of 127.5).
DEFAULT_COLOR_TOLERANCE = 127
#: Most distinct values a 2-D picture mask may hold without a threshold (JPEG masks hold ~200).
MAX_PICTURE_MASK_VALUES = 16
#: ``validate`` reports an ROI covering less than this share of the mask's foreground.
MIN_ROI_FRACTION = 0.5
#: ``validate`` reports an ROI with more than this share of its pixels in specks.
MAX_SPECK_FRACTION = 0.5
#: A connected region of at most this many pixels (voxels) is a speck.
SPECK_SIZE = 2
#: ``validate`` reports an ROI with more than this share of its pixels in the mask's background.
MAX_BACKGROUND_FRACTION = 0.5

_PICTURES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_LOSSY = (".jpg", ".jpeg")
_COLOUR = re.compile(r"\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:~\s*(\d{1,3})\s*)?")
_THRESHOLD = re.compile(r"\s*>\s*(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)\s*")
_NAME = re.compile(r"[^\x00-\x1f]*[A-Za-z][^\x00-\x1f]*")
#: Longest segment/ROI name (DICOM LO is 64 characters).
MAX_NAME_LENGTH = 64
_COLOUR_FIX = ("set mask_label to the lesion's colour as R,G,B, e.g. 255,0,0 for red or 0,255,0 for green "
               f"(matched per channel within mask_color_tolerance, default {DEFAULT_COLOR_TOLERANCE}); "
               "averaging the channels to grey would select noise.")


def _missing(value: object) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


@dataclass(frozen=True)
class MaskDecoding:
    """How one mask is decoded into an ROI.

    Attributes:
        label: Integer value of the ROI (used when ``color`` and ``threshold`` are unset).
        color: ``(R, G, B)`` of the ROI in a colour-coded mask, 0–255 each.
        tolerance: Largest per-channel difference from ``color`` still in the ROI.
        threshold: Foreground = value > threshold (grey masks only).
        name: Segment label (DICOM-SEG) or ROI name (RTSTRUCT), matched
            case-insensitively; ``label`` is then unused.
    """

    label: int = DEFAULT_MASK_LABEL
    color: tuple[int, int, int] | None = None
    tolerance: int = DEFAULT_COLOR_TOLERANCE
    threshold: float | None = None
    name: str | None = None

    @classmethod
    def from_columns(cls, label: object = None, tolerance: object = None,
                     threshold: object = None) -> MaskDecoding:
        """Build the decoding from a manifest row's three cells (empty cells take defaults).

        ``label`` may also be a token of :meth:`token` (an already-normalised
        manifest); the other cells then only fill in what it leaves open.

        Raises:
            MaskSpecError: Naming the column, what was expected, what was found and the fix.
        """
        tol = DEFAULT_COLOR_TOLERANCE
        if not _missing(tolerance):
            try:
                tol_f = float(tolerance)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                tol_f = math.nan
            if not (tol_f.is_integer() and 0 <= tol_f <= 254):
                raise MaskSpecError(COL_MASK_COLOR_TOLERANCE, "an integer from 0 to 254", repr(tolerance),
                                    f"give the largest per-channel difference from the colour (default "
                                    f"{DEFAULT_COLOR_TOLERANCE}), or leave the cell empty.")
            tol = int(tol_f)
        thr: float | None = None
        if not _missing(threshold):
            try:
                thr = float(threshold)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                thr = math.nan
            if not math.isfinite(thr):
                raise MaskSpecError(COL_MASK_THRESHOLD, "a finite number", repr(threshold),
                                    "give the value above which a pixel is foreground (e.g. 127 for a 0/255 "
                                    "JPEG mask), or leave the cell empty.")
        if _missing(label):
            return cls(threshold=thr)
        if isinstance(label, (int, np.integer)) and not isinstance(label, bool):
            return cls._integer(int(label), thr)
        if isinstance(label, (float, np.floating)):
            if not float(label).is_integer():
                raise _label_error(label)
            return cls._integer(int(label), thr)
        text = str(label)
        colour = _COLOUR.fullmatch(text)
        if colour:
            rgb = tuple(int(v) for v in colour.groups()[:3])
            if max(rgb) > 255:
                raise _label_error(label)
            if thr is not None:
                raise MaskSpecError(COL_MASK_THRESHOLD, "no threshold with a colour mask_label", f"{thr:g}",
                                    "leave mask_threshold empty (a colour label is matched per channel with "
                                    "mask_color_tolerance).")
            if colour.group(4) is not None and _missing(tolerance):
                tol = int(colour.group(4))
            return cls(color=rgb, tolerance=tol)  # type: ignore[arg-type]
        above = _THRESHOLD.fullmatch(text)
        if above:
            return cls(threshold=float(above.group(1)) if thr is None else thr)
        if _NAME.fullmatch(text) and len(text.strip()) <= MAX_NAME_LENGTH:
            if thr is not None:
                raise MaskSpecError(COL_MASK_THRESHOLD, "no threshold with a segment/ROI name in mask_label",
                                    f"{thr:g}", "leave mask_threshold empty (a named DICOM-SEG segment or "
                                    "RTSTRUCT ROI is already binary).")
            return cls(name=text.strip())
        try:
            number = float(text)
        except ValueError:
            raise _label_error(label) from None
        if not number.is_integer():
            raise _label_error(label)
        return cls._integer(int(number), thr)

    @classmethod
    def _integer(cls, label: int, threshold: float | None) -> MaskDecoding:
        if label < 1 and threshold is None:
            raise _label_error(label)
        return cls(label=label, threshold=threshold)

    @classmethod
    def from_token(cls, token: object) -> MaskDecoding:
        """The decoding of a token (or an integer label, or an empty value: the default)."""
        if isinstance(token, MaskDecoding):
            return token
        return cls.from_columns(token)

    def token(self) -> int | str:
        """One value that carries the decoding through jobs and into case hashes.

        Returns:
            The integer label for a plain label; ``"R,G,B~T"`` for a colour;
            ``">T"`` for a threshold; the name for a segment/ROI name.

        Example:
            >>> MaskDecoding.from_columns("255,0,0").token()
            '255,0,0~127'
        """
        if self.name is not None:
            return self.name
        if self.color is not None:
            return ",".join(map(str, self.color)) + f"~{self.tolerance}"
        if self.threshold is not None:
            return f">{self.threshold:g}"
        return int(self.label)

    def describe(self) -> str:
        """What the ROI is, in words (for messages)."""
        if self.name is not None:
            return f"the segment or ROI named {self.name!r}"
        if self.color is not None:
            return f"pixels of colour ({','.join(map(str, self.color))}) ± {self.tolerance} per channel"
        if self.threshold is not None:
            return f"values > {self.threshold:g}"
        return f"voxels with value {self.label}"


def _label_error(value: object) -> MaskSpecError:
    return MaskSpecError(COL_MASK_LABEL, "an integer label >= 1 (e.g. 1), a colour R,G,B with 0-255 "
                         "per channel (e.g. 255,0,0) or a DICOM segment/ROI name (e.g. Tumor)", repr(value),
                         "give the lesion's value in a grey mask, its colour in a colour-coded mask, or its "
                         "segment/ROI name or number in a DICOM-SEG/RTSTRUCT.")


@dataclass(frozen=True)
class DecodedMask:
    """A decoded mask.

    Attributes:
        roi: Boolean array, ``(z, y, x)`` or ``(y, x)``: the ROI.
        foreground: Boolean array of the same shape: every non-background
            pixel (non-zero; for colour masks, farther than the tolerance from black).
        values: Sorted distinct values (grey) or colours (``(n, 3)``) of the mask, capped at 64.
        image: The ROI as a UInt8 0/1 image with the file's geometry.
    """

    roi: np.ndarray
    foreground: np.ndarray
    values: np.ndarray
    image: sitk.Image


def _colours(rgb: np.ndarray, top: int = 4) -> str:
    colours, counts = np.unique(rgb.reshape(-1, 3), axis=0, return_counts=True)
    order = np.argsort(-counts, kind="stable")[:top]
    shown = ", ".join(f"({','.join(map(str, colours[i]))}) {counts[i]} px" for i in order)
    return f"{len(colours)} colours; most frequent {shown}"


def decode_mask(raw: sitk.Image, decoding: MaskDecoding, path: PathLike) -> DecodedMask:
    """Decode a mask read with :func:`~alnm_ray.manifest.imageio.read_pixels`.

    Raises:
        ManifestError: When the mask cannot be decoded as stated (a colour
            mask without a colour label, a grey mask with one, a compressed
            mask without a threshold); its ``column`` attribute names the
            manifest column to change.
    """
    p = Path(path)
    name = p.name
    suffix = ".nii.gz" if name.lower().endswith(".nii.gz") else p.suffix.lower()
    arr = sitk.GetArrayFromImage(raw)
    channels = raw.GetNumberOfComponentsPerPixel()
    geometry = sitk.VectorIndexSelectionCast(raw, 0) if channels > 1 else raw
    if channels >= 3:
        rgb = arr[..., :3].astype(np.int32)
        coloured = bool(np.any(rgb[..., 0] != rgb[..., 1]) or np.any(rgb[..., 1] != rgb[..., 2]))
    else:
        rgb, coloured = None, False
    if decoding.color is not None:
        if rgb is None:
            raise _decode_error(p, "a colour (RGB) mask for a colour mask_label",
                                "a single-channel (grey) mask",
                                "give mask_label as the lesion's integer value instead of a colour.")
        diff = np.abs(rgb - np.asarray(decoding.color, np.int32))
        roi = np.all(diff <= decoding.tolerance, axis=-1)
        foreground = np.any(rgb > decoding.tolerance, axis=-1)
        colours = np.unique(rgb.reshape(-1, 3), axis=0)[:64]
        return _decoded(roi, foreground, colours, geometry)
    if coloured and rgb is not None:
        raise _decode_error(p, "a grey mask (all channels equal), or mask_label given as a colour R,G,B",
                            f"a colour-coded mask ({_colours(rgb)})", _COLOUR_FIX)
    grey = arr[..., 0] if channels > 1 else arr
    if decoding.threshold is not None:
        roi = grey > decoding.threshold
        return _decoded(roi, roi, np.unique(grey)[:64], geometry)
    values = np.unique(grey)
    fractional = np.issubdtype(values.dtype, np.floating) and bool(np.any(values != np.rint(values)))
    many = suffix in _PICTURES and values.size > MAX_PICTURE_MASK_VALUES
    lossy = suffix in _LOSSY and values.size > 2
    if fractional or many or lossy:
        why = ("non-integer values (an interpolated mask)" if fractional else
               "a lossy-compressed (JPEG) mask" if lossy else "a compressed or anti-aliased mask")
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (" …" if values.size > 6 else "")
        raise _decode_error(p, "a label mask with a few distinct values, or mask_threshold",
                            f"{values.size} distinct values ({shown}): {why}",
                            "set mask_threshold (foreground = value > threshold), e.g. 127 for a 0/255 mask.",
                            column=COL_MASK_THRESHOLD)
    label = decoding.label
    if label == DEFAULT_MASK_LABEL and values.size and values[-1] == 255 and set(values.tolist()) <= {0, 255}:
        label = 255  # a 0/255 binary mask with the default label
    return _decoded(grey == label, grey != 0, values[:64], geometry)


def _decoded(roi: np.ndarray, foreground: np.ndarray, values: np.ndarray, geometry: sitk.Image) -> DecodedMask:
    image = sitk.GetImageFromArray(roi.astype(np.uint8))
    image.CopyInformation(geometry)
    return DecodedMask(roi=roi, foreground=foreground, values=values, image=image)


def _decode_error(path: Path, expected: str, found: str, fix: str, *,
                  column: str = COL_MASK_LABEL) -> ManifestError:
    err = unreadable(path, expected, found, fix[:1].upper() + fix[1:])
    err.column = column  # type: ignore[attr-defined]
    return err


def read_decoded(path: PathLike, label: object = DEFAULT_MASK_LABEL, *,
                 image: PathLike | None = None) -> DecodedMask:
    """Read and decode a mask (see :func:`decode_mask`).

    A DICOM-SEG or RTSTRUCT file (told apart by its header, after the
    special-file checks) is decoded onto ``image``, the DICOM series folder
    it was drawn on (see :mod:`alnm_ray.manifest.dicom_masks`): its ROI is
    the one segment/ROI ``label`` names or numbers, and its foreground is
    that ROI (picking one named structure is never "partial").

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When the file is unreadable or cannot be decoded as
            stated; its ``column`` attribute names the column to change.
    """
    from alnm_ray.manifest.dicom_masks import decode_dicom_mask, dicom_mask_kind

    decoding = MaskDecoding.from_token(label)
    p = Path(path)
    kind = dicom_mask_kind(p)
    if kind is not None:
        if decoding.color is not None or decoding.threshold is not None:
            raise _decode_error(p, f"a segment/ROI name or number as mask_label for this {kind} mask",
                                decoding.describe(), "give mask_label as the segment/ROI name or number, and "
                                "leave mask_threshold and mask_color_tolerance empty.")
        roi, geometry = decode_dicom_mask(p, kind, image, decoding.label, decoding.name)
        return _decoded(roi, roi, np.unique(roi.astype(np.uint8)), geometry)
    if decoding.name is not None:
        raise _decode_error(p, "a DICOM-SEG or RTSTRUCT file for a segment/ROI name in mask_label",
                            f"a label image, not a DICOM-SEG or RTSTRUCT (mask_label {decoding.name!r})",
                            "give mask_label as the lesion's integer value or R,G,B colour, or point the mask "
                            "at the DICOM-SEG/RTSTRUCT file.")
    return decode_mask(read_pixels(path), decoding, path)


def read_mask(path: PathLike, label: object = DEFAULT_MASK_LABEL, *, image: PathLike | None = None) -> sitk.Image:
    """Read a mask and return its ROI as a binary UInt8 image (1 inside).

    Args:
        path: Mask file, DICOM series folder, or DICOM-SEG/RTSTRUCT file.
        label: A :class:`MaskDecoding`, a token of :meth:`MaskDecoding.token`,
            an integer label, a segment/ROI name, or an empty value (label 1).
        image: The row's image; needed (a DICOM series folder) when the mask
            is a DICOM-SEG or RTSTRUCT, ignored otherwise.

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When the file is unreadable or cannot be decoded as stated.

    Example:
        >>> roi = read_mask("benign.png", "0,255,0")  # doctest: +SKIP
    """
    return read_decoded(path, label, image=image).image


def _regions(roi: np.ndarray) -> tuple[int, int]:
    """``(regions, pixels in specks)`` of the ROI (fully connected neighbourhoods)."""
    components = sitk.GetArrayFromImage(sitk.ConnectedComponent(sitk.GetImageFromArray(roi.astype(np.uint8)),
                                                                True))
    sizes = np.bincount(components.ravel())[1:]
    return int(sizes.size), int(sizes[sizes <= SPECK_SIZE].sum())


def roi_issues(decoded: DecodedMask, decoding: MaskDecoding, *,
               allow_partial: bool = False) -> list[tuple[str, str, str, str]]:
    """What ``validate`` reports about a decoded ROI: empty, a scatter of specks, or a small part.

    Args:
        decoded: The decoded mask.
        decoding: How it was decoded (for messages).
        allow_partial: Do not report an ROI smaller than :data:`MIN_ROI_FRACTION`
            of the foreground (masks that label several structures on purpose).

    Returns:
        ``(column, expected, found, fix)`` tuples (empty when fine).
    """
    n_roi = int(decoded.roi.sum())
    if n_roi == 0:
        if decoding.color is not None:
            found = "no such pixels (" + (
                "an empty mask" if not decoded.foreground.any() else
                "colours " + ", ".join(f"({','.join(map(str, c))})" for c in decoded.values[:6])) + ")"
            return [(COL_MASK_LABEL, f"{decoding.describe()} in the mask", found,
                     "set mask_label to the lesion's colour (or raise mask_color_tolerance), or re-draw the ROI.")]
        vals = decoded.values
        found = "an empty mask (all zero)" if vals.size == 1 and vals[0] == 0 else \
            "mask values " + ", ".join(f"{v:g}" for v in vals[:8]) + (" …" if vals.size > 8 else "")
        column = COL_MASK_THRESHOLD if decoding.threshold is not None else COL_MASK_LABEL
        return [(column, f"{decoding.describe()} in the mask", found,
                 "set mask_label to the lesion's value, or re-draw the ROI.")]
    column = COL_MASK_THRESHOLD if decoding.threshold is not None else COL_MASK_LABEL
    if decoding.threshold is not None and decoded.roi.all():
        return [(column, "an ROI that leaves out the mask's background",
                 f"every pixel ({n_roi} px) selected by {decoding.describe()}: the threshold is below every "
                 f"mask value (lowest {float(decoded.values[0]):g})",
                 "set mask_threshold between the background and lesion values, e.g. 127 for a 0/255 mask.")]
    background = int((decoded.roi & ~decoded.foreground).sum())
    if background > MAX_BACKGROUND_FRACTION * n_roi:
        return [(column, "an ROI inside the mask's foreground (its non-zero or coloured pixels)",
                 f"{background} of the ROI's {n_roi} px ({background / n_roi:.0%}) in the background (black "
                 f"or zero); the ROI is {decoding.describe()}",
                 "the decoding selects the background, not a lesion: set mask_label to the lesion's value or "
                 "colour (e.g. 255,0,0 for red, 0,255,0 for green).")]
    regions, specks = _regions(decoded.roi)
    if specks > MAX_SPECK_FRACTION * n_roi:
        return [(COL_MASK_LABEL, "an ROI of one or a few connected regions",
                 f"a scatter of isolated pixels: {n_roi} px in {regions} regions, {specks} px in regions of "
                 f"{SPECK_SIZE} px or fewer",
                 "the decoding selects noise, not a lesion: set mask_label to the lesion's value or colour "
                 "(mask_threshold for compressed masks).")]
    n_fg = int(decoded.foreground.sum())
    if not allow_partial and n_roi < MIN_ROI_FRACTION * n_fg:
        return [(COL_MASK_LABEL, f"an ROI covering at least {MIN_ROI_FRACTION:.0%} of the mask's non-zero pixels",
                 f"{n_roi} of {n_fg} px ({n_roi / n_fg:.0%}) selected by {decoding.describe()}",
                 "set mask_label (a value or an R,G,B colour) or mask_threshold so it selects the whole lesion; "
                 "if the mask labels several structures on purpose, validate with --allow-partial-roi.")]
    return []


def mask_tokens(df: pd.DataFrame) -> pd.Series:
    """Each row's decoding token (see :meth:`MaskDecoding.token`), from its mask columns.

    Raises:
        ManifestError: Listing every row whose mask columns cannot be decoded.
    """
    def cell(row: Any, column: str) -> object:
        return row[column] if column in df.columns else None

    tokens, problems = [], []
    for i, (_, row) in enumerate(df.iterrows()):
        try:
            tokens.append(MaskDecoding.from_columns(cell(row, COL_MASK_LABEL), cell(row, COL_MASK_COLOR_TOLERANCE),
                                                    cell(row, COL_MASK_THRESHOLD)).token())
        except MaskSpecError as err:
            problems.append(f"row {i + 1}, {err.problems[0]}")
    if problems:
        raise ManifestError(problems)
    series = pd.Series(tokens, index=df.index, dtype=object)
    return series.astype(int) if all(isinstance(t, int) for t in tokens) else series
