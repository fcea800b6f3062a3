"""Content hashes: files (streamed SHA-256), cases, versions.

A case's hash covers everything its feature row depends on: the image and
mask bytes, the mask label, the case key, the sequence's preprocessing config,
the PyRadiomics params and the library versions.  Change any of them and the
case is recomputed; change none and its stored row is reused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from pathlib import Path

from alnm_ray.preprocess.config import stable_hash
from alnm_ray.typing import PathLike

#: Read size for streaming hashes (1 MiB: large enough that hashlib releases the GIL).
CHUNK_BYTES = 1 << 20
#: Libraries whose versions change feature values (and so enter every hash).
VERSIONED_LIBRARIES: tuple[str, ...] = ("pyradiomics", "SimpleITK", "antspyx", "numpy", "PyWavelets")


def sha256_file(path: PathLike) -> str:
    """SHA-256 (hex) of a file, read in chunks; of a folder (DICOM series), of its sorted files.

    Raises:
        FileNotFoundError: When the path does not exist.
        PermissionError: When it cannot be read.
    """
    p = Path(path)
    digest = hashlib.sha256()
    files = sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p]
    if p.is_dir() and not files:
        raise FileNotFoundError(2, "Empty folder (expected DICOM files)", str(p))
    for f in files:
        if p.is_dir():
            digest.update(str(f.relative_to(p)).encode() + b"\0")
        with open(f, "rb") as fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Installed versions of :data:`VERSIONED_LIBRARIES` and of alnm-ray itself."""
    from importlib.metadata import PackageNotFoundError, version

    from alnm_ray._version import __version__

    out = {}
    for name in VERSIONED_LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            out[name] = "absent"
    out["alnm-ray"] = __version__
    return out


def case_hash(*, key: Iterable[str], image_sha256: str, mask_sha256: str, mask_label: int | str,
              preprocess_hash: str, params_hash: str, versions: Mapping[str, str]) -> str:
    """The content hash of one case (hex SHA-256).

    Example:
        >>> h = case_hash(key=("c", "X", "p1", "T2WI", "A"), image_sha256="a", mask_sha256="b",
        ...               mask_label=1, preprocess_hash="p", params_hash="q", versions={})
        >>> len(h)
        64
    """
    return stable_hash({"key": list(key), "image": image_sha256, "mask": mask_sha256,
                        "mask_label": mask_label if isinstance(mask_label, str) else int(mask_label),  # or a token
                        "preprocess": preprocess_hash,
                        "params": params_hash, "versions": dict(versions)})


def version_id(case_hashes: Iterable[str], *, table_config: Mapping[str, object]) -> str:
    """The store version id: SHA-256 of the sorted case hashes and the table-level config."""
    return stable_hash({"cases": sorted(case_hashes), "config": dict(table_config)})
