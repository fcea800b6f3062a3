"""Keeping image paths and patient identifiers out of logs above DEBUG.

Console and JSON log lines at INFO and above pass through :class:`RedactFilter`,
which replaces filesystem paths and any registered patient identifier with a
placeholder. ``--log-identifiers`` turns it off; the DEBUG run log keeps
everything (it stays in the run folder, next to the data it describes).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

#: A path: something with at least two components separated by "/" (or a drive/UNC prefix).
_PATH = re.compile(r"(?<![\w@.-])(?:[A-Za-z]:)?(?:~|\.{1,2})?(?:/[^\s/'\"()\[\],;:]+){2,}/?")

_identifiers: set[str] = set()
_id_pattern: re.Pattern[str] | None = None


def register_identifiers(ids: Iterable[str]) -> None:
    """Add patient identifiers that must not appear in logs above DEBUG."""
    global _id_pattern
    _identifiers.update(str(i) for i in ids if str(i))
    if _identifiers:
        alternatives = sorted((re.escape(i) for i in _identifiers), key=len, reverse=True)
        _id_pattern = re.compile(r"(?<![\w-])(?:" + "|".join(alternatives) + r")(?![\w-])")


def redact(text: str) -> str:
    """Replace paths with ``<path>`` and registered identifiers with ``<patient>``.

    Example:
        >>> redact("read /data/site1/P001/t2.nii.gz")
        'read <path>'
    """
    text = _PATH.sub("<path>", text)
    if _id_pattern is not None:
        text = _id_pattern.sub("<patient>", text)
    return text


class RedactFilter(logging.Filter):
    """Redacts records at INFO and above (DEBUG records pass unchanged)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno > logging.DEBUG:
            record.msg = redact(record.getMessage())
            record.args = ()
        return True
