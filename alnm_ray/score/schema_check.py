"""Checking a new cohort's feature columns against a bundle's training schema.

A bundle records the exact feature columns, in order, that its pipeline was
fitted on.  A new cohort's wide table must offer the same columns.  Missing
features are always an error (the model cannot be applied); extra and
re-ordered features are an error by default too, because they usually mean
the cohort was extracted with other settings, but ``align=True`` accepts them
(extra columns dropped, order restored) with a warning that names them.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from alnm_ray.exceptions import SchemaAlignedWarning, SchemaMismatchError

logger = logging.getLogger(__name__)

#: Names listed per category in a message before "… and N more".
MAX_NAMES = 10


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:MAX_NAMES])
    return shown + (f" … and {len(items) - MAX_NAMES} more" if len(items) > MAX_NAMES else "")


@dataclass(frozen=True)
class SchemaDiff:
    """How a found feature list differs from the expected one.

    Attributes:
        missing: Expected features not found (expected order).
        extra: Found features not expected (found order).
        reordered: The fewest common features that must move to restore the
            expected order (expected order).
    """

    missing: tuple[str, ...]
    extra: tuple[str, ...]
    reordered: tuple[str, ...]

    @property
    def ok(self) -> bool:
        """True when the found list equals the expected list."""
        return not (self.missing or self.extra or self.reordered)

    def describe(self) -> str:
        """``3 missing: a, b, c; 1 extra: d`` (empty when ok)."""
        parts = []
        for what, names in (("missing", self.missing), ("extra", self.extra), ("re-ordered", self.reordered)):
            if names:
                parts.append(f"{len(names)} {what}: {_names(list(names))}")
        return "; ".join(parts)


def diff_features(expected: Sequence[str], found: Sequence[str]) -> SchemaDiff:
    """Compare two feature lists by name.

    Example:
        >>> diff_features(["a", "b", "c"], ["b", "a", "d"]).describe()
        '1 missing: c; 1 extra: d; 1 re-ordered: b'
    """
    exp_set, found_set = set(expected), set(found)
    missing = tuple(f for f in expected if f not in found_set)
    extra = tuple(f for f in found if f not in exp_set)
    rank = {f: i for i, f in enumerate(expected)}
    positions = [rank[f] for f in found if f in exp_set]
    kept = _longest_increasing(positions)
    reordered = tuple(expected[p] for p in sorted(set(positions) - kept))
    return SchemaDiff(missing, extra, reordered)


def _longest_increasing(seq: list[int]) -> set[int]:
    """Values of one longest increasing subsequence of ``seq`` (O(n log n)).

    Features outside it are the fewest that must move to restore the order,
    so one moved feature is reported as one name, not as every feature it shifted.
    """
    import bisect

    tails: list[int] = []          # smallest tail value of an increasing run of each length
    tail_idx: list[int] = []       # index in seq of that tail
    prev = [-1] * len(seq)
    for i, v in enumerate(seq):
        k = bisect.bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_idx.append(i)
        else:
            tails[k] = v
            tail_idx[k] = i
        prev[i] = tail_idx[k - 1] if k > 0 else -1
    out: set[int] = set()
    i = tail_idx[-1] if tail_idx else -1
    while i >= 0:
        out.add(seq[i])
        i = prev[i]
    return out


def check_feature_schema(expected: Sequence[str], table: pd.DataFrame, *, what: str,
                         align: bool = False) -> pd.DataFrame:
    """Return ``table[expected]`` after checking its feature columns by name.

    Args:
        expected: The bundle's feature columns, in training order.
        table: The new cohort's wide table; columns other than features (keys,
            label) must already be removed.
        what: Names the cohort/table in messages, e.g. ``"cohort 'ext1' (radiomics@ab12)"``.
        align: Accept extra and re-ordered features (drop / reorder, with a
            :class:`SchemaAlignedWarning`); missing features are always an error.

    Returns:
        A DataFrame with exactly the ``expected`` columns, in that order.

    Raises:
        SchemaMismatchError: Naming missing features, and extra or re-ordered
            ones unless ``align``.
    """
    diff = diff_features(list(expected), [str(c) for c in table.columns])
    if diff.ok:
        return table
    if diff.missing or not align:
        fix = ("Score a table extracted with the bundle's own settings (`alnm-ray score --manifest` "
               "re-extracts with them)")
        if not diff.missing:
            fix += ", or pass --align to drop extra columns and restore the training order"
        raise SchemaMismatchError(
            f"{what}: expected the {len(expected)} features the bundle was trained on, in training order; "
            f"found {diff.describe()}. {fix}."
        )
    message = f"{what}: aligned to the bundle's features ({diff.describe()})."
    warnings.warn(message, SchemaAlignedWarning, stacklevel=2)
    logger.warning(message)
    return table.loc[:, list(expected)]
