"""Reading images and masks: NIfTI, NRRD, MHA, DICOM series folders, PNG/JPEG.

Everything comes back as a :class:`SimpleITK.Image` with physical geometry.
2-D pictures (PNG/JPEG, no spacing in the file) get 1 × 1 px spacing; colour
images are reduced to one grey channel (the mean of RGB).  Masks are decoded
by :mod:`alnm_ray.manifest.masks` and never averaged.  Paths are checked with
``os.stat`` before they are opened (see :mod:`alnm_ray.manifest.paths`).
"""

from __future__ import annotations

import gzip
import math
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnm_ray.exceptions import ManifestError
from alnm_ray.typing import PathLike

#: File endings read as 2-D pictures.
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
#: File endings read as volumes by SimpleITK.
VOLUME_SUFFIXES = (".nii", ".nii.gz", ".nrrd", ".nhdr", ".mha", ".mhd", ".dcm")
SUPPORTED = PICTURE_SUFFIXES + VOLUME_SUFFIXES + ("<DICOM series folder>",)


def _suffix(path: Path) -> str:
    name = path.name.lower()
    return ".nii.gz" if name.endswith(".nii.gz") else path.suffix.lower()


def unreadable(path: Path, expected: str, found: str, fix: str) -> ManifestError:
    """A :class:`ManifestError` for one unreadable file; ``expected``/``found``/``fix`` kept as attributes."""
    err = ManifestError([f"{path}: expected {expected}; found {found}. {fix}"], source="image")
    err.expected, err.found, err.fix = expected, found, fix  # type: ignore[attr-defined]
    return err


def _itk_detail(err: RuntimeError) -> str:
    """The informative line of an ITK exception (not its source location or a stale errno)."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    if len(lines) > 1 and lines[-1].startswith("Reason:"):  # MetaIO appends errno, usually stale
        lines.pop()
    detail = lines[-1].split("sitk::ERROR:")[-1].split("ITK ERROR:")[-1].strip() if lines else str(err)
    return re.sub(r"^\w+\(0x[0-9a-f]+\):\s*", "", detail)[:160]


#: NIfTI float datatype codes -> numpy type (ITK's reader turns their NaN/inf into 0).
_NIFTI_FLOATS = {16: "f4", 64: "f8"}


def _nifti_header(head: bytes) -> tuple[int, int, int, str | None] | None:
    """``(header size, voxel offset, data bytes, float dtype or None)`` of a NIfTI-1/2 header, else None."""
    for order in "<>":
        size = struct.unpack(order + "i", head[:4])[0] if len(head) >= 4 else 0
        if size in (348, 540) and len(head) >= size:
            break
    else:
        return None
    if size == 348:
        dims, code = struct.unpack(order + "8h", head[40:56]), struct.unpack(order + "h", head[70:72])[0]
        bitpix, offset = struct.unpack(order + "h", head[72:74])[0], int(struct.unpack(order + "f", head[108:112])[0])
    else:
        dims, code = struct.unpack(order + "8q", head[16:80]), struct.unpack(order + "h", head[12:14])[0]
        bitpix, offset = struct.unpack(order + "h", head[14:16])[0], int(struct.unpack(order + "q", head[168:176])[0])
    if not 1 <= dims[0] <= 7:
        return None
    nbytes = math.prod(max(int(d), 1) for d in dims[1:dims[0] + 1]) * bitpix // 8
    dtype = order + _NIFTI_FLOATS[code] if code in _NIFTI_FLOATS else None
    return size, max(offset, size), nbytes, dtype


def _check_nifti(path: Path) -> None:
    """Refuse a truncated NIfTI file, or one holding NaN/inf voxels.

    ITK reads both without an error (measured with SimpleITK 2.5): a file
    whose voxel data stop early comes back with the missing voxels set to 0
    (half a ``.nii.gz`` read as an image half of zeros), and NaN/inf voxels of
    a float image come back as 0 too.  Either would become feature values, so
    the file is streamed once: its length is checked against the header's and
    float voxels are checked for finiteness.

    Raises:
        ManifestError: When the file is shorter than its header announces, or
            holds non-finite voxels.
    """
    with open(path, "rb") as probe:
        compressed = probe.read(2) == b"\x1f\x8b"  # by content: ITK also reads a plain file named .nii.gz
    bad = total = 0
    try:
        with (gzip.open(path, "rb") if compressed else open(path, "rb")) as fh:
            head = fh.read(540)
            header = _nifti_header(head)
            total = len(head)
            dtype = np.dtype(header[3]) if header and header[3] else None
            # voxel bytes still to check, and the bytes before them (header extensions) still to skip
            skip, left, pending = (header[1], header[2], b"") if header is not None and dtype is not None \
                else (0, 0, b"")
            chunk = head
            while chunk:
                if dtype is not None and left:
                    part = chunk[min(skip, len(chunk)):][:left]
                    skip, left = max(0, skip - len(chunk)), left - len(part)
                    pending += part
                    usable = len(pending) - len(pending) % dtype.itemsize
                    bad += int((~np.isfinite(np.frombuffer(pending[:usable], dtype))).sum())
                    pending = pending[usable:]
                chunk = fh.read(1 << 20)
                total += len(chunk)
    except EOFError:
        raise unreadable(path, "a complete gzip stream", "a compressed stream that ends early (the file is "
                         "truncated)", "Re-export or copy the file again.") from None
    except (gzip.BadGzipFile, zlib.error) as err:
        raise unreadable(path, "a readable gzip stream", f"corrupt compressed data ({err})",
                         "It may be corrupt; re-export or copy the file again.") from None
    if header is None:
        return  # not a header we know; ITK accepted it
    expected = header[1] + header[2]
    if total < expected:
        raise unreadable(path, f"{expected} bytes of header and voxel data",
                         f"{total} bytes (the file is truncated)", "Re-export or copy the file again.")
    if bad:
        raise unreadable(path, "finite intensities", f"{bad} NaN/inf voxels (a NIfTI reader would silently read "
                         "them as 0)", "Re-export the image; NaNs usually come from a failed conversion.")


def read_dicom_series(folder: Path) -> sitk.Image:
    """Read the one DICOM series in ``folder``.

    Raises:
        ManifestError: When the folder holds no series or several.
    """
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise unreadable(folder, "a DICOM series folder", "no DICOM series",
                         "Point the manifest at the folder holding one series' .dcm files.")
    if len(series) > 1:
        raise unreadable(folder, "one DICOM series", f"{len(series)} ({', '.join(sorted(series)[:3])}{'…' if len(series) > 3 else ''})",
                         "Put each series in its own folder and point the manifest row at one of them.")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    return reader.Execute()


def read_pixels(path: PathLike) -> sitk.Image:
    """Read an image or mask as stored: colour pictures keep their channels.

    The path is checked with ``os.stat`` before anything opens it: a folder
    is read as a DICOM series, and a FIFO, socket or device is refused (a
    FIFO would block the reader forever).

    Args:
        path: A file or a DICOM series folder.

    Returns:
        The image; a colour picture is a vector image (one component per channel).

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When the path is a special file, the format is
            unsupported or the file is unreadable.
    """
    from alnm_ray.manifest.paths import file_kind

    p = Path(path)
    kind = file_kind(p)  # FileNotFoundError when absent; never opens the path
    if kind == "a folder":
        return read_dicom_series(p)
    if kind is not None:
        raise unreadable(p, "a regular file or a DICOM series folder", kind,
                         "Point the manifest at the file itself (special files such as pipes and devices are "
                         "never read).")
    suffix = _suffix(p)
    if suffix not in PICTURE_SUFFIXES + VOLUME_SUFFIXES:
        raise unreadable(p, f"one of {', '.join(SUPPORTED)}", f"a '{suffix or p.name}' file",
                         "Convert it (e.g. with SimpleITK) to NIfTI or NRRD.")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as err:
        raise unreadable(p, "a readable image", f"could not read the file ({_itk_detail(err)})",
                         "It may be truncated or corrupt; re-export it.") from err
    if suffix in (".nii", ".nii.gz"):
        _check_nifti(p)
    return img


def read_image(path: PathLike) -> sitk.Image:
    """Read an image as a single-channel SimpleITK image.

    Args:
        path: A file or a DICOM series folder.

    Returns:
        The image; colour pictures are averaged to grey (float32).  Masks are
        read with :func:`read_mask`, which never averages channels.

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When the path is a special file, the format is
            unsupported or the file is unreadable.
    """
    img = read_pixels(path)
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = sitk.GetArrayFromImage(img).astype(np.float32)
        grey = sitk.GetImageFromArray(arr[..., :3].mean(axis=-1))
        grey.CopyInformation(sitk.VectorIndexSelectionCast(img, 0))
        img = grey
    return img


def read_mask(path: PathLike, label: object = 1, *, image: PathLike | None = None) -> sitk.Image:
    """Read a mask and return a binary UInt8 image (1 inside the ROI).

    ``label`` says how the mask is decoded: an integer label, a colour
    ``"R,G,B"``, a DICOM segment/ROI name, or any decoding
    :func:`alnm_ray.manifest.masks.MaskDecoding.from_token` accepts.
    ``image`` is the row's image: a DICOM-SEG or RTSTRUCT mask is decoded
    onto it (a DICOM series folder).  See :func:`alnm_ray.manifest.masks.read_mask`.
    """
    from alnm_ray.manifest.masks import read_mask as _read_mask

    return _read_mask(path, label, image=image)
