"""SHA-256 checksum files for model bundles.

A bundle folder holds a ``CHECKSUMS.sha256`` file in the format ``sha256sum``
writes and ``sha256sum -c`` reads (``<64 hex>  <relative path>`` per line,
sorted by path), listing every other file of the bundle.  :func:`verify_files`
compares a folder's files byte for byte against it and reports every file
that was altered, removed or added, by name, before anything is deserialised.

Checksums alone detect accidental or casual alteration only: a party able to
rewrite the whole folder can rewrite the checksum file too.  That is why the
checksum file's exact bytes are signed (``SIGNATURE.json``, see
:mod:`alnm_ray.score.signing`), and the signature is checked first.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alnm_ray.exceptions import BundleIntegrityError
from alnm_ray.typing import PathLike

#: Name of the checksum file inside a bundle folder.
CHECKSUM_FILE = "CHECKSUMS.sha256"
#: Name of the signature file (signs the checksum file's bytes; listed in neither).
SIGNATURE_FILE = "SIGNATURE.json"
#: Files of a bundle folder that the checksum file does not list.
UNLISTED: frozenset[str] = frozenset({CHECKSUM_FILE, SIGNATURE_FILE})
#: Files listed in an error message before "… and N more" (STYLE: cap lists).
MAX_LISTED = 8
_HEX = frozenset("0123456789abcdef")


def sha256_bytes(data: bytes) -> str:
    """SHA-256 of ``data`` as 64 lower-case hex digits."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: PathLike, *, chunk_size: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def format_checksums(digests: Mapping[str, str]) -> str:
    """The text of a checksum file: ``<sha256>  <path>`` lines sorted by path."""
    return "".join(f"{digests[name]}  {name}\n" for name in sorted(digests))


def parse_checksums(text: str, *, source: str = CHECKSUM_FILE) -> dict[str, str]:
    """Parse a checksum file into ``{relative path: sha256}``.

    Raises:
        BundleIntegrityError: When a line is not ``<64 hex digits>  <path>``
            or a path is listed twice.
    """
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        digest, sep, name = line.partition("  ")
        name = name.lstrip("*")  # sha256sum's binary-mode marker
        if not sep or len(digest) != 64 or not set(digest) <= _HEX or not name:
            raise BundleIntegrityError(
                f"{source}, line {number}: expected '<64 hex digits>  <file name>'; found {line[:90]!r}. "
                "The checksum file was edited or truncated; re-create the bundle with `alnm-ray train`."
            )
        if name in out:
            raise BundleIntegrityError(
                f"{source}, line {number}: expected each file once; '{name}' is listed twice. "
                "Re-create the bundle with `alnm-ray train`."
            )
        out[name] = digest
    return out


def list_files(root: PathLike) -> list[str]:
    """Every regular file under ``root`` as a sorted POSIX relative path."""
    base = Path(root)
    return sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())


def write_checksums(root: PathLike) -> dict[str, str]:
    """Checksum every file under ``root`` into ``root/CHECKSUMS.sha256``.

    Returns:
        ``{relative path: sha256}`` of the files listed (the checksum and signature files excluded).
    """
    base = Path(root)
    digests = {name: sha256_file(base / name) for name in list_files(base) if name not in UNLISTED}
    (base / CHECKSUM_FILE).write_text(format_checksums(digests), encoding="utf-8")
    return digests


@dataclass(frozen=True)
class IntegrityReport:
    """What differs between a folder and its checksum file (names sorted)."""

    altered: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    added: tuple[str, ...] = ()
    checked: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """True when every listed file is present and unchanged and none was added."""
        return not (self.altered or self.missing or self.added)

    def message(self, bundle: str) -> str:
        """A four-part message naming every problem file (capped at :data:`MAX_LISTED`)."""
        parts = []
        for what, names in (("altered (checksum differs)", self.altered),
                            ("removed", self.missing), ("added (not in the checksum file)", self.added)):
            if names:
                shown = ", ".join(names[:MAX_LISTED])
                more = f" and {len(names) - MAX_LISTED} more" if len(names) > MAX_LISTED else ""
                parts.append(f"{what}: {shown}{more}")
        return (f"bundle {bundle}: expected every file to match {CHECKSUM_FILE}; found "
                + "; ".join(parts) + ". Nothing was deserialised. The bundle was modified after "
                "`alnm-ray train` wrote it: restore the original folder or train a new bundle.")


def compare(expected: Mapping[str, str], found: Mapping[str, str]) -> IntegrityReport:
    """Compare ``{path: sha256}`` listed in a checksum file with those found on disk."""
    altered = sorted(n for n in expected if n in found and found[n] != expected[n])
    missing = sorted(n for n in expected if n not in found)
    added = sorted(n for n in found if n not in expected)
    return IntegrityReport(tuple(altered), tuple(missing), tuple(added), tuple(sorted(expected)))


def read_head(root: PathLike) -> tuple[bytes, bytes | None]:
    """Read only a bundle folder's checksum file and signature file (bytes, nothing parsed).

    Args:
        root: The bundle folder.

    Returns:
        ``(checksum file bytes, signature file bytes or None when absent)``.

    Raises:
        FileNotFoundError: When ``root`` is not a folder.
        BundleIntegrityError: When the checksum file is missing.
    """
    base = Path(root)
    if not base.is_dir():
        raise FileNotFoundError(2, "bundle folder not found", str(base))
    listing = base / CHECKSUM_FILE
    if not listing.is_file():
        raise BundleIntegrityError(
            f"bundle {base}: expected a {CHECKSUM_FILE} file listing every file's SHA-256; found none. "
            "Check the path points at a folder written by `alnm-ray train --out`."
        )
    signature = base / SIGNATURE_FILE
    return listing.read_bytes(), (signature.read_bytes() if signature.is_file() else None)


def _special(path: Path) -> str | None:
    """What ``path`` is when it is not a plain regular file (a link, pipe, device …), else None."""
    import stat

    mode = path.lstat().st_mode
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISLNK(mode):
        return f"a symbolic link to {os.readlink(path)!r}"
    return "a FIFO (named pipe)" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"


def read_payload(root: PathLike) -> dict[str, bytes]:
    """``{relative path: bytes}`` of every file of a bundle folder but the checksum and signature files.

    Raises:
        BundleIntegrityError: When an entry is a symbolic link, pipe, socket or device
            (``alnm-ray train`` writes regular files only); nothing is read from it.
    """
    base = Path(root)
    for path in sorted(base.rglob("*")):
        what = _special(path)
        if what is not None:
            raise BundleIntegrityError(
                f"bundle {base}: expected regular files only (`alnm-ray train` writes no links or special "
                f"files); found {path.relative_to(base).as_posix()}: {what}. Nothing was deserialised. The "
                "bundle was modified after it was written: restore the original folder or train a new bundle.")
    return {name: (base / name).read_bytes() for name in list_files(base) if name not in UNLISTED}


def read_folder(root: PathLike) -> tuple[str, dict[str, bytes]]:
    """Read a bundle folder's checksum file and every other file, parsing nothing.

    Args:
        root: The bundle folder.

    Returns:
        ``(checksum file text, {relative path: bytes})`` (the signature file left out).

    Raises:
        FileNotFoundError: When ``root`` is not a folder.
        BundleIntegrityError: When the checksum file is missing.
    """
    checksums, _ = read_head(root)
    return checksums.decode("utf-8", errors="replace"), read_payload(root)


def read_verified(root: PathLike) -> dict[str, bytes]:
    """Read every file of a bundle folder into memory and verify it.

    The bytes returned are the bytes that were hashed, so nothing can change
    between the check and the deserialisation that follows.

    Args:
        root: The bundle folder.

    Returns:
        ``{relative path: bytes}`` of every file except the checksum file.

    Raises:
        BundleIntegrityError: When the checksum file is missing or malformed,
            or a file was altered, removed or added (every such file is named).
        FileNotFoundError: When ``root`` is not a folder.
    """
    text, blobs = read_folder(root)
    expected = parse_checksums(text, source=f"{root}/{CHECKSUM_FILE}")
    return verify_blobs(blobs, expected, bundle=str(root))


def verify_blobs(blobs: Mapping[str, bytes], expected: Mapping[str, str], *, bundle: str) -> dict[str, bytes]:
    """Verify in-memory file contents against ``{path: sha256}``.

    Returns:
        ``blobs`` as a plain dict when everything matches.

    Raises:
        BundleIntegrityError: Naming every altered, removed or added file.
    """
    report = compare(expected, {name: sha256_bytes(data) for name, data in blobs.items()})
    if not report.ok:
        raise BundleIntegrityError(report.message(bundle))
    return dict(blobs)
