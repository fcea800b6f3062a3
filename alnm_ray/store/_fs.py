"""Where a store lives: a local folder or any URI :mod:`pyarrow.fs` understands.

Everything the store reads or writes goes through one
:class:`pyarrow.fs.FileSystem`, so the same code serves a laptop folder, an NFS
mount shared by a Ray cluster, and ``s3://`` / ``gs://`` buckets.  Only two
things depend on the kind of filesystem:

* On a local filesystem a version is written to ``_tmp/<uuid>`` and renamed
  into place (an atomic ``rename(2)``), and catalog entries are committed with
  an exclusive hard link.
* Object stores have no atomic directory rename; there the data is written
  straight to its final, unique folder and the catalog entry, written last as
  one object, is the commit point.
"""

from __future__ import annotations

import errno
import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from alnm_ray.exceptions import StoreDamageError, StoreError

if TYPE_CHECKING:  # imported where used: the SQL path over a local store never loads pyarrow
    import pyarrow.fs as pafs

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
#: A plain file or folder name: no separators, not ``.``/``..``, no control characters.
_NAME = re.compile(r"^(?!\.{1,2}$)[^/\\\x00-\x1f:]{1,255}$")
#: Bytes read at a time when hashing a file.
_CHUNK = 1 << 20

#: OS error numbers mapped to the fix the user needs.
_ERRNO_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free space or point --store at a volume with room",
    errno.EDQUOT: "the disk quota is exhausted: free space or use another --store",
    errno.EACCES: "permission denied: make the folder writable by this user or use another --store",
    errno.EPERM: "operation not permitted: make the folder writable by this user or use another --store",
    errno.EROFS: "the filesystem is read-only: use a writable --store",
    errno.ENOTDIR: "a path component is a file, not a folder: choose a --store path inside a folder",
    errno.ENOENT: "a folder on the path does not exist or was removed meanwhile",
}


@dataclass(frozen=True)
class StoreLocation:
    """A resolved store root.

    Attributes:
        uri: The store as the user gave it (absolute path for local stores).
        fs: The filesystem every read and write goes through.
        root: The root path inside ``fs`` (no trailing slash).
        is_local: Whether ``fs`` is the local filesystem (atomic rename, hard links).
    """

    uri: str
    fs: pafs.FileSystem
    root: str
    is_local: bool

    def path(self, *parts: str) -> str:
        """The ``fs`` path of ``parts`` below the root."""
        return "/".join([self.root, *[p.strip("/") for p in parts if p]])

    def display(self, *parts: str) -> str:
        """A path or URI of ``parts`` for messages and :class:`VersionInfo`."""
        if self.is_local:
            return os.path.join(self.uri, *parts)
        return "/".join([self.uri.rstrip("/"), *[p.strip("/") for p in parts if p]])


def resolve_location(uri: str | os.PathLike[str], filesystem: pafs.FileSystem | None = None
                     ) -> StoreLocation:
    """Resolve a store path or URI to a filesystem and a root path.

    Args:
        uri: A local folder (relative paths are made absolute), ``file://``
            URI, or any URI :func:`pyarrow.fs.FileSystem.from_uri` accepts
            (``s3://bucket/prefix``, ``gs://…``, ``hdfs://…``).
        filesystem: Use this filesystem instead of resolving one from the
            URI; ``uri`` is then the root path inside it.

    Returns:
        The :class:`StoreLocation`.

    Raises:
        StoreError: When the URI's filesystem cannot be opened (unknown
            scheme, no network, no credentials).
    """
    import pyarrow.fs as pafs

    text = os.fspath(uri)
    if not text:
        raise StoreError("store: expected a folder path or URI; got an empty string. "
                         "Pass --store PATH (a folder) or s3://bucket/prefix.")
    if filesystem is not None:
        return StoreLocation(text, filesystem, text.rstrip("/") or "/",
                             isinstance(filesystem, pafs.LocalFileSystem))
    if not _SCHEME.match(text) or text.startswith("file://"):
        local = text[len("file://"):] if text.startswith("file://") else text
        absolute = os.path.abspath(os.path.expanduser(local))
        return StoreLocation(absolute, pafs.LocalFileSystem(), absolute.replace(os.sep, "/"), True)
    try:
        fs, root = pafs.FileSystem.from_uri(text)
    except (OSError, ValueError, TypeError) as err:  # ArrowInvalid is a ValueError
        raise StoreError(
            f"store {text!r}: cannot open its filesystem ({err}). Expected a local folder or a "
            "URI pyarrow.fs understands (s3://, gs://, hdfs://, file://); check the scheme, the "
            "network and the credentials."
        ) from err
    return StoreLocation(text, fs, root.rstrip("/") or "/",
                         isinstance(fs, pafs.LocalFileSystem))


def os_error_message(err: BaseException, action: str, where: str) -> str:
    """A four-part message for an I/O failure of the store.

    Args:
        err: The original error (``OSError`` or an Arrow I/O error).
        action: What was being done ("write version radiomics@ab12").
        where: The store path or URI.

    Returns:
        ``"store '<where>': could not <action>: <cause>; <fix>."``
    """
    code = getattr(err, "errno", None)
    hint = _ERRNO_HINTS.get(code) if code is not None else None
    if hint is None:
        text = str(err).lower()
        if "no space" in text:
            hint = _ERRNO_HINTS[errno.ENOSPC]
        elif "permission denied" in text or "access denied" in text:
            hint = _ERRNO_HINTS[errno.EACCES]
        elif "read-only" in text:
            hint = _ERRNO_HINTS[errno.EROFS]
        elif "not a directory" in text:
            hint = _ERRNO_HINTS[errno.ENOTDIR]
        else:
            hint = "check the store path exists, is writable and has free space"
    return f"store {where!r}: could not {action}: {err}; {hint}."


def is_dir(fs: pafs.FileSystem, path: str) -> bool:
    """Whether ``path`` is a directory of ``fs``."""
    import pyarrow.fs as pafs

    return fs.get_file_info(path).type == pafs.FileType.Directory


def list_dir(fs: pafs.FileSystem, path: str) -> list[pafs.FileInfo]:
    """Entries directly under ``path``; empty when it does not exist."""
    import pyarrow.fs as pafs

    if fs.get_file_info(path).type != pafs.FileType.Directory:
        return []
    return fs.get_file_info(pafs.FileSelector(path, allow_not_found=True, recursive=False))


def read_bytes(fs: pafs.FileSystem, path: str) -> bytes:
    """The whole content of the file ``path``."""
    with fs.open_input_stream(path) as stream:
        return stream.read()


def write_bytes(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` in one stream (one PUT on object stores)."""
    with fs.open_output_stream(path) as stream:
        stream.write(data)


def remove_tree(fs: pafs.FileSystem, path: str) -> None:
    """Delete the folder ``path`` and everything below it; absent is fine."""
    import pyarrow.fs as pafs

    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        fs.delete_dir(path)
    elif info.type == pafs.FileType.File:
        fs.delete_file(path)


def newest_mtime(fs: pafs.FileSystem, info: pafs.FileInfo) -> float | None:
    """Newest modification time (POSIX seconds) of ``info`` and, for a folder, its files.

    A file being appended to updates its own time but not its folder's, so a
    folder's age is that of its newest file.  ``None`` when no time is known
    (object stores have no folder times).
    """
    import pyarrow.fs as pafs

    times = [info.mtime]
    if info.type == pafs.FileType.Directory:
        times += [i.mtime for i in fs.get_file_info(
            pafs.FileSelector(info.path, allow_not_found=True, recursive=True))]
    known: list[Any] = [t for t in times if t is not None]
    return max(t.timestamp() for t in known) if known else None


def is_plain_name(name: object) -> bool:
    """Whether ``name`` is one path component (no ``/``, ``\\``, ``..``, ``:``).

    Example:
        >>> is_plain_name("part-00000.parquet"), is_plain_name("../x"), is_plain_name("/etc")
        (True, False, False)
    """
    return isinstance(name, str) and bool(_NAME.match(name))


def is_plain_relpath(rel: object) -> bool:
    """Whether ``rel`` is a relative path of plain names (``tables/t/v-1``), nothing else."""
    return isinstance(rel, str) and bool(rel) and all(is_plain_name(p) for p in rel.split("/"))


def inside(location: StoreLocation, rel: str, what: str) -> str:
    """The ``fs`` path of ``rel`` below the store root, checked to stay inside the store.

    ``rel`` must be made of plain names (no ``..``, no absolute path); on a
    local store the resolved path (symbolic links followed) must also lie
    below the resolved root.

    Args:
        location: The store.
        rel: A path relative to the root, as a catalog entry records it.
        what: What the path is, for the message ("data file of radiomics@3fa2").

    Returns:
        The path inside ``location.fs``.

    Raises:
        StoreDamageError: The path leaves the store.
    """
    fix = ("Run `alnm-ray features repair` to move that catalog entry into _quarantine/ "
           "(nothing outside the store is touched).")
    if not is_plain_relpath(rel):
        raise StoreDamageError(
            f"{what}: expected a path inside store {location.uri!r} (plain names below its root); "
            f"found {str(rel)[:120]!r}. {fix}")
    path = location.path(rel)
    if location.is_local:
        root = os.path.realpath(location.root)
        real = os.path.realpath(path)
        if os.path.commonpath([root, real]) != root:
            raise StoreDamageError(
                f"{what}: expected {rel!r} to stay inside store {location.uri!r}; a symbolic link "
                f"makes it point to {real!r}. {fix}")
    return path


def file_digest(fs: pafs.FileSystem, path: str) -> tuple[int, str]:
    """Size in bytes and SHA-256 (hex) of the file ``path``, read in 1 MiB chunks."""
    digest, size = hashlib.sha256(), 0
    with fs.open_input_stream(path) as stream:
        while True:
            chunk = stream.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return size, digest.hexdigest()


def move_tree(fs: pafs.FileSystem, src: str, dst: str) -> None:
    """Move the file or folder ``src`` to ``dst`` (created parents; file by file on object stores)."""
    import pyarrow.fs as pafs

    fs.create_dir(posixpath.dirname(dst), recursive=True)
    if isinstance(fs, pafs.LocalFileSystem):  # one rename; a symbolic link moves as a link
        os.replace(src, dst)
        return
    if fs.get_file_info(src).type == pafs.FileType.File:
        fs.move(src, dst)
        return
    for item in fs.get_file_info(pafs.FileSelector(src, recursive=True)):
        if item.type == pafs.FileType.File:
            target = dst + item.path[len(src.rstrip("/")):]
            fs.create_dir(posixpath.dirname(target), recursive=True)
            fs.move(item.path, target)
    fs.delete_dir(src)
