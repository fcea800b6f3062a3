"""Reading images and masks: NIfTI, NRRD, MHA, DICOM series folders, PNG/JPEG.

Everything comes back as a :class:`SimpleITK.Image` with physical geometry.
2-D pictures (PNG/JPEG, no spacing in the file) get 1 × 1 px spacing; colour
pictures are reduced to one grey channel (the mean of RGB).
"""

from __future__ import annotations

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


def read_dicom_series(folder: Path) -> sitk.Image:
    """Read the one DICOM series in ``folder``.

    Raises:
        ManifestError: When the folder holds no series or several.
    """
    reader = sitk.ImageSeriesReader()
    series = reader.GetGDCMSeriesIDs(str(folder))
    if not series:
        raise ManifestError([f"{folder}: expected a DICOM series folder; found no DICOM series. "
                             "Point the manifest at the folder holding one series' .dcm files."],
                            source="image")
    if len(series) > 1:
        raise ManifestError([f"{folder}: expected one DICOM series; found {len(series)} "
                             f"({', '.join(sorted(series)[:3])}…). Put each series in its own folder."],
                            source="image")
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder), series[0]))
    return reader.Execute()


def read_image(path: PathLike) -> sitk.Image:
    """Read an image (or mask) as a single-channel SimpleITK image.

    Args:
        path: A file or a DICOM series folder.

    Returns:
        The image; colour pictures are averaged to grey (float32).

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When the format is unsupported or the file is unreadable.
    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, "No such file or directory", str(p))
    if p.is_dir():
        return read_dicom_series(p)
    suffix = _suffix(p)
    if suffix not in PICTURE_SUFFIXES + VOLUME_SUFFIXES:
        raise ManifestError([f"{p}: expected one of {', '.join(SUPPORTED)}; found a '{suffix or p.name}' "
                             "file. Convert it (e.g. with SimpleITK) to NIfTI or NRRD."], source="image")
    try:
        img = sitk.ReadImage(str(p))
    except RuntimeError as err:
        detail = str(err).strip().splitlines()[-1].split("sitk::ERROR:")[-1].strip()[:120]
        raise ManifestError([f"{p}: could not read the file ({detail}); it may be truncated or "
                             "corrupt, re-export it."], source="image") from err
    if img.GetNumberOfComponentsPerPixel() > 1:
        arr = sitk.GetArrayFromImage(img).astype(np.float32)
        grey = sitk.GetImageFromArray(arr[..., :3].mean(axis=-1))
        grey.CopyInformation(sitk.VectorIndexSelectionCast(img, 0))
        img = grey
    return img


def read_mask(path: PathLike, label: int = 1) -> sitk.Image:
    """Read a mask and return a binary UInt8 image (1 where the mask equals ``label``).

    JPEG masks carry compression noise at edges: values are rounded to the
    nearest of 0 and 255 (``> 127``) before comparing with ``label`` when the
    picture uses 0/255 coding and ``label`` is 1 or 255.
    """
    img = read_image(path)
    arr = sitk.GetArrayFromImage(img)
    if _suffix(Path(path)) in (".jpg", ".jpeg") and label in (1, 255):
        binary = arr > 127
    elif label == 1 and arr.max() == 255 and set(np.unique(arr)).issubset({0, 255}):
        binary = arr == 255
    else:
        binary = np.rint(arr) == label
    out = sitk.GetImageFromArray(binary.astype(np.uint8))
    out.CopyInformation(img)
    return out
