"""Where each value of a protocol file comes from: the YAML text's comments, read line by line.

A shipped protocol cites the sentence of the paper that states each value, as
a comment holding a double-quoted excerpt, either at the end of the value's
line or on the comment lines right above it::

    # "retaining features with an ICC > 0.9"
    icc_threshold: 0.9

Values the paper does not state are listed under ``assumed:`` instead (key
path, value, one-line reason).  :func:`leaf_lines` finds every value line with
its dotted key path and its comments; :func:`quotes` pulls the excerpts out of
a comment; :func:`uncited` lists the values that have neither.  YAML parsers
drop comments, so this reads the text itself; it understands the block
mappings, flow values and block lists the shipped files use.

Example:
    >>> text = 'cv:\\n  # "20 repetitions of 5-fold"\\n  folds: 5\\n  seed: 0\\n'
    >>> [(leaf.path, leaf.quotes) for leaf in leaf_lines(text)]
    [('cv.folds', ['20 repetitions of 5-fold']), ('cv.seed', [])]
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

#: Top-level keys that describe the file, not the method: no citation needed.
EXEMPT: frozenset[str] = frozenset({"protocol", "version", "title", "citation", "based_on",
                                    "assumed"})
_KEY = re.compile(r"^(?P<indent>\s*)(?P<dash>-\s+)?(?P<key>[A-Za-z0-9_.:+/\"'-]+):(?:\s+(?P<rest>.*))?$")
_QUOTE = re.compile(r"\"([^\"]{6,})\"")


@dataclass(frozen=True)
class Leaf:
    """One value line of a protocol file.

    Attributes:
        path: Dotted key path (``selection.radiomics.steps``).
        line: 1-based line number.
        value: The value text (comment removed).
        quotes: Double-quoted excerpts in the line's comment or the comment block above it.
    """

    path: str
    line: int
    value: str
    quotes: list[str]


def _split_comment(rest: str) -> tuple[str, str]:
    """``value  # comment`` -> (value, comment), ignoring ``#`` inside quotes."""
    quote = None
    for i, ch in enumerate(rest):
        if ch in "\"'" and quote is None:
            quote = ch
        elif ch == quote:
            quote = None
        elif ch == "#" and quote is None and (i == 0 or rest[i - 1].isspace()):
            return rest[:i].strip(), rest[i + 1:].strip()
    return rest.strip(), ""


def quotes(comment: str) -> list[str]:
    """Double-quoted excerpts (at least 6 characters) in a comment.

    Example:
        >>> quotes('Guo 2.2.3: "retaining features with an ICC > 0.9"')
        ['retaining features with an ICC > 0.9']
    """
    return [q.strip() for q in _QUOTE.findall(comment)]


def leaf_lines(text: str) -> list[Leaf]:
    """Every value line of a protocol's YAML text with its key path and cited excerpts."""
    stack: list[tuple[int, str]] = []
    pending: list[str] = []
    out: list[Leaf] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped:
            pending = []
            continue
        if stripped.startswith("#"):
            pending.append(stripped[1:].strip())
            continue
        match = _KEY.match(raw)
        indent = len(raw) - len(raw.lstrip())
        if match is None:  # a block-list item or a continuation line: belongs to the open key
            value, comment = _split_comment(stripped.lstrip("- "))
            if stack and stripped.startswith("- "):
                out.append(Leaf(stack[-1][1], number, value, quotes(" ".join(pending + [comment]))))
            pending = []
            continue
        if match.group("dash"):
            indent += len(match.group("dash"))
        while stack and stack[-1][0] >= indent:
            stack.pop()
        key = match.group("key").strip("\"'")
        path = f"{stack[-1][1]}.{key}" if stack else key
        value, comment = _split_comment(match.group("rest") or "")
        if value in ("", "|", ">") or re.fullmatch(r"&\S+", value):  # a parent (or an anchored one)
            stack.append((indent, path))
            if comment:
                pending.append(comment)
            continue
        out.append(Leaf(path, number, value, quotes(" ".join(pending + [comment]))))
        pending = []
    return out


def _normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u2019", "'").replace("\u2018", "'")
                  .replace("\u201c", '"').replace("\u201d", '"')).strip()


def quote_found(quote: str, paper: str) -> bool:
    """Whether every fragment of ``quote`` (split at ``...``/``…``) occurs in the paper text."""
    body = _normalise(paper)
    parts = [p.strip() for p in re.split(r"\.\.\.|…", _normalise(quote)) if p.strip()]
    return bool(parts) and all(p in body for p in parts)


def covered(path: str, assumed_keys: Iterable[str]) -> bool:
    """Whether ``path`` is an assumed key or lies under one."""
    return any(path == k or path.startswith(k + ".") for k in assumed_keys)


def uncited(text: str, assumed_keys: Iterable[str]) -> list[Leaf]:
    """Value lines (outside :data:`EXEMPT`) with no quoted excerpt and no ``assumed`` entry."""
    keys = list(assumed_keys)
    return [leaf for leaf in leaf_lines(text)
            if leaf.path.split(".")[0] not in EXEMPT and not leaf.quotes and not covered(leaf.path, keys)]
