"""The identifier rule: what a cohort or patient id may look like, wherever it enters.

Ids end up in file names, store partitions, CSV reports and log lines, so
they are held to one conservative rule: ASCII letters, digits, ``_``, ``.``
and ``-``; the first character a letter, digit or ``_`` (no ``.``/``..``,
no leading ``-`` or ``=``); at most :data:`ID_MAX_LENGTH` characters.  This
keeps out path traversal (``../../x``), spreadsheet formulas
(``=HYPERLINK(…)``), line breaks and invisible or bidirectional control
characters (U+202E and friends), which would otherwise come out raw in
outputs.  Manifests, clinical tables and ``features import`` all call
:func:`id_problem`; the JSON Schemas carry the same pattern for other tools.
"""

from __future__ import annotations

import math
import re

from alnm_ray.constants import COL_COHORT, COL_PATIENT

#: Longest id accepted, in characters.
ID_MAX_LENGTH = 128
#: The id rule as a regular expression (matched against the whole value).
ID_PATTERN = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,%d}" % (ID_MAX_LENGTH - 1)
#: Columns holding ids in manifests, clinical tables and imported feature tables.
ID_COLUMNS: tuple[str, ...] = (COL_COHORT, COL_PATIENT)
#: What a valid id looks like, for the "expected" part of messages.
ID_EXPECTED = (f"an id of ASCII letters, digits, '_', '.' or '-' (starting with a letter, digit or '_', "
               f"at most {ID_MAX_LENGTH} characters)")
#: How to fix an invalid id, for the "fix" part of messages.
ID_FIX = ("rename the id using only letters, digits, '_', '.' and '-' (no spaces, slashes, formulas, line "
          "breaks or control characters).")

_ID = re.compile(ID_PATTERN)


def show_value(value: object, limit: int = 60) -> str:
    """``value`` quoted with every non-ASCII or control character escaped (safe to print)."""
    text = ascii(str(value))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def id_problem(value: object) -> str | None:
    """Why ``value`` is not a valid id, or ``None`` when it is.

    Args:
        value: A cohort or patient id as read from a table (text, or a number
            a reader parsed from text).

    Returns:
        ``None`` for a valid id, else the "found" part of a message (the value
        shown with control and non-ASCII characters escaped, plus the reason).

    Example:
        >>> id_problem("PX-7301") is None
        True
        >>> id_problem("=HYPERLINK(1)")
        "'=HYPERLINK(1)' (contains '=')"
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "an empty value"
    if isinstance(value, bool):
        return f"{value!r} (a boolean)"
    text = str(value)
    if _ID.fullmatch(text):
        return None
    shown = show_value(text)
    if not text:
        return "an empty value"
    if len(text) > ID_MAX_LENGTH:
        return f"{shown} ({len(text)} characters)"
    bad = next((c for c in text if not (c.isascii() and (c.isalnum() or c in "_.-"))), None)
    if bad is not None:
        return f"{shown} (contains {ascii(bad)})"
    return f"{shown} (starts with {text[0]!r})"
