"""File-level checks: images and masks exist, are readable, and agree in geometry."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import SimpleITK as sitk

from alnm_ray.constants import GEOMETRY_TOLERANCE
from alnm_ray.exceptions import ManifestError
from alnm_ray.manifest.imageio import read_image
from alnm_ray.manifest.masks import MaskDecoding, read_decoded, roi_issues

#: (column, expected, found, fix) — one file problem, before it gets a row number.
FileIssue = tuple[str, str, str, str]


@dataclass(frozen=True)
class FileCheck:
    """The files of one manifest row, already resolved to absolute paths."""

    image: Path
    mask: Path
    mask_label: object = 1
    allow_partial_roi: bool = False

    @property
    def decoding(self) -> MaskDecoding:
        """How the mask is decoded (``mask_label`` is a decoding token or an integer label)."""
        return MaskDecoding.from_token(self.mask_label)


def geometry_issues(image: sitk.Image, mask: sitk.Image, tol: float = GEOMETRY_TOLERANCE) -> list[FileIssue]:
    """Compare size, spacing, origin and direction of an image and its mask."""
    if image.GetDimension() != mask.GetDimension():
        return [("mask", f"a {image.GetDimension()}-D mask like the image",
                 f"a {mask.GetDimension()}-D mask", "export the mask on the image's grid.")]
    issues: list[FileIssue] = []
    pairs = {
        "size": (image.GetSize(), mask.GetSize(), 0.0),
        "spacing (mm)": (image.GetSpacing(), mask.GetSpacing(), tol),
        "origin (mm)": (image.GetOrigin(), mask.GetOrigin(), tol * max(1.0, max(map(abs, image.GetOrigin())))),
        "direction": (image.GetDirection(), mask.GetDirection(), tol),
    }
    for what, (a, b, t) in pairs.items():
        if not np.allclose(np.asarray(a, float), np.asarray(b, float), rtol=0, atol=t):
            fmt = lambda v: "(" + ", ".join(f"{x:g}" for x in v) + ")"  # noqa: E731
            issues.append(("mask", f"the image's {what} {fmt(a)}", f"{fmt(b)}",
                           "resample the mask onto the image grid (nearest neighbour) or fix its header."))
    return issues


def check_files(item: FileCheck) -> list[FileIssue]:
    """Every problem with one row's image and mask (empty list when fine)."""
    issues: list[FileIssue] = []
    image = mask = decoded = None
    for column, path in (("image", item.image), ("mask", item.mask)):
        try:
            if column == "image":
                image = read_image(path)
            else:
                decoded = read_decoded(path, item.decoding, image=item.image)
                mask = decoded.image
        except FileNotFoundError:
            issues.append((column, "an existing file or DICOM folder", f"no such path {str(path)!r}",
                           "correct the path (relative paths start at the manifest's folder)."))
        except ManifestError as err:
            # the reader says what it expected, found and how to fix it; keep its fix, not a generic one
            expected = getattr(err, "expected", "a readable image")
            found = getattr(err, "found", err.problems[0].split(": ", 1)[-1])
            fix = getattr(err, "fix", "the file may be truncated or corrupt; re-export it.")
            issues.append((getattr(err, "column", column), expected, f"{path.name}: {found}",
                           fix[:1].lower() + fix[1:]))
    if image is not None:
        arr = sitk.GetArrayViewFromImage(image)
        if not np.all(np.isfinite(arr)):
            issues.append(("image", "finite intensities", f"{int((~np.isfinite(arr)).sum())} NaN/inf voxels",
                           "re-export the image; NaNs usually come from a failed conversion."))
        elif float(arr.max()) == float(arr.min()):
            issues.append(("image", "an image with contrast", f"a constant image (all {float(arr.min()):g})",
                           "check the file is the intended series; a blank export has no texture."))
    if decoded is not None:
        issues.extend(roi_issues(decoded, item.decoding, allow_partial=item.allow_partial_roi))
    if image is not None and mask is not None:
        issues.extend(geometry_issues(image, mask))
    return issues


def check_all(items: dict[int, FileCheck], *, max_workers: int = 4) -> dict[int, list[FileIssue]]:
    """Check many rows' files in threads (SimpleITK I/O releases the GIL).

    Args:
        items: Row number → its files.
        max_workers: Threads.

    Returns:
        Row number → its problems (rows without problems are left out).
    """
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        results = dict(zip(items, pool.map(check_files, items.values())))
    return {row: issues for row, issues in results.items() if issues}
