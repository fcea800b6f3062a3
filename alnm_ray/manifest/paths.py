"""Where input files may be, and what they may be: checked with ``stat`` before anything is opened.

Two checks shared by every command that reads a manifest:

* :func:`outside_root` — a path that resolves (symbolic links followed)
  outside ``--data-root`` is refused;
* :func:`file_kind_problem` — a FIFO, socket or device where an image, mask
  or table is expected is refused without opening it (opening a FIFO blocks
  until something writes to it, i.e. forever).  A directory is accepted only
  where a DICOM series folder may stand (``allow_dir=True``).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from alnm_ray.exceptions import ManifestError
from alnm_ray.typing import PathLike

_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
          (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"), (stat.S_ISDIR, "a folder"))


def outside_root(path: PathLike, root: PathLike) -> bool:
    """True when ``path`` (resolved, links followed) is not inside ``root`` (resolved).

    Example:
        >>> outside_root("/data/cohort/../../etc/passwd", "/data")
        True
    """
    return not Path(path).resolve().is_relative_to(Path(root).resolve())


def root_problem(path: PathLike, root: PathLike | None) -> tuple[str, str] | None:
    """``(expected, fix)`` when ``path`` escapes ``root``; ``None`` when it is inside or no root is set."""
    if root is None or not outside_root(path, root):
        return None
    return (f"a path inside the data root {str(Path(root).resolve())!r}",
            "move the file under --data-root or widen --data-root.")


def file_kind(path: PathLike) -> str | None:
    """What ``path`` is when it is not a regular file ("a FIFO (named pipe)", "a folder", …), else ``None``.

    Uses ``os.stat`` only (links followed); never opens the path.

    Raises:
        FileNotFoundError: When the path does not exist.
    """
    mode = os.stat(path).st_mode
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _KINDS if test(mode)), "not a regular file")


def file_kind_problem(path: PathLike, *, allow_dir: bool = False) -> tuple[str, str, str] | None:
    """``(expected, found, fix)`` when ``path`` is not a regular file (nor an allowed folder).

    Args:
        path: The path to check (it is never opened).
        allow_dir: Accept a folder (a DICOM series folder).

    Returns:
        ``None`` when the path is a regular file (or an allowed folder) or does
        not exist (existence is reported by the reader).
    """
    try:
        kind = file_kind(path)
    except FileNotFoundError:
        return None
    except OSError as err:
        return ("a readable file", f"{Path(path).name}: {err.strerror or err}",
                "check the path and its permissions.")
    if kind is None or (allow_dir and kind == "a folder"):
        return None
    expected = "a regular file or a DICOM series folder" if allow_dir else "a regular file"
    return (expected, f"{Path(path).name}: {kind}",
            "point the manifest at the file itself (special files such as pipes and devices are never read).")


def require_regular_file(path: PathLike, *, what: str = "file") -> Path:
    """Return ``path`` when it is a regular file; refuse a FIFO, device or folder without opening it.

    Raises:
        FileNotFoundError: When the path does not exist.
        ManifestError: When it is something other than a regular file.
    """
    p = Path(path)
    kind = file_kind(p)
    if kind is not None:
        raise ManifestError([f"{p}: expected a regular file as the {what}; found {kind}. Pass the path "
                             "of the file itself (special files such as pipes and devices are never read)."],
                            source=what)
    return p
