"""Net reclassification improvement (NRI) and integrated discrimination improvement (IDI).

Definitions follow Pencina, D'Agostino Sr, D'Agostino Jr & Vasan (2008),
Stat. Med. 27:157-172, and, for the category-free NRI, Pencina, D'Agostino
Sr & Steyerberg (2011), Stat. Med. 30:11-21.  Model ``new`` is compared with
model ``old`` on the same patients; positive values favour ``new``.

* NRI = [P(up | event) - P(down | event)] + [P(down | non-event) - P(up | non-event)].
  *Categorical*: "up" means a higher risk category under ``new``, with
  categories cut at ``cutoffs`` (a probability equal to a cut-off belongs to
  the higher category, matching "positive when p >= threshold").
  *Continuous*: "up" means ``p_new > p_old`` (equal probabilities move neither way).
  Standard error (Pencina 2008, McNemar-type, under the null)::

      SE² = (p_up,e + p_down,e) / n_e + (p_up,ne + p_down,ne) / n_ne

* IDI = [mean(p_new - p_old) over events] - [mean(p_new - p_old) over non-events],
  SE² = sd_e² / n_e + sd_ne² / n_ne with ``sd`` the sample standard deviation
  (ddof = 1) of the paired differences ``p_new - p_old`` in each class.

Z = estimate / SE; p is two-sided.  A model compared with itself gives 0 with
SE 0, reported as Z = 0, p = 1.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from alnm_ray.stats.checks import InvalidPredictionsError, check_labels, check_probabilities
from alnm_ray.stats._normal import z_test

__all__ = ["IDIResult", "NRIResult", "categorical_nri", "continuous_nri", "idi"]


@dataclass(frozen=True)
class NRIResult:
    """An NRI with its components, counts and Pencina 2008 test.

    Attributes:
        nri: ``events + nonevents`` (range [-2, 2]).
        events: P(up | event) - P(down | event).
        nonevents: P(down | non-event) - P(up | non-event).
        se, z, p: Standard error, Z and two-sided p-value.
        kind: ``"continuous"`` or ``"categorical"``.
        cutoffs: Category cut-offs (empty for the continuous NRI).
        up_events, down_events, up_nonevents, down_nonevents: Counts of patients moving.
        n_events, n_nonevents: Class sizes.
    """

    nri: float
    events: float
    nonevents: float
    se: float
    z: float
    p: float
    kind: str
    cutoffs: tuple[float, ...]
    up_events: int
    down_events: int
    up_nonevents: int
    down_nonevents: int
    n_events: int
    n_nonevents: int

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (cut-offs as a list)."""
        d = asdict(self)
        d["cutoffs"] = list(self.cutoffs)
        return d


@dataclass(frozen=True)
class IDIResult:
    """An IDI with its components and test.

    Attributes:
        idi: ``events - nonevents``.
        events: Mean of ``p_new - p_old`` over events (change in mean risk of events).
        nonevents: Mean of ``p_new - p_old`` over non-events.
        se, z, p: Standard error, Z and two-sided p-value.
    """

    idi: float
    events: float
    nonevents: float
    se: float
    z: float
    p: float

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict."""
        return asdict(self)


def _prepare(y: Any, p_new: Any, p_old: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = check_labels(y)
    new = check_probabilities(p_new, name="p_new", n=yy.size)
    old = check_probabilities(p_old, name="p_old", n=yy.size)
    return yy == 1, new, old


def _nri_from_moves(event: np.ndarray, up: np.ndarray, down: np.ndarray, kind: str,
                    cutoffs: tuple[float, ...]) -> NRIResult:
    n_e = int(event.sum())
    n_ne = int(event.size - n_e)
    ue, de = int((up & event).sum()), int((down & event).sum())
    un, dn = int((up & ~event).sum()), int((down & ~event).sum())
    ev = (ue - de) / n_e
    ne = (dn - un) / n_ne
    se = math.sqrt((ue + de) / n_e ** 2 + (un + dn) / n_ne ** 2)
    value = ev + ne
    z, p = z_test(value, se)
    return NRIResult(value, ev, ne, se, z, p, kind, cutoffs, ue, de, un, dn, n_e, n_ne)


def continuous_nri(y: Any, p_new: Any, p_old: Any) -> NRIResult:
    """Category-free NRI: any increase in predicted risk counts as "up".

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p_new: New model's probabilities, shape ``(n,)``.
        p_old: Reference model's probabilities, shape ``(n,)``.

    Returns:
        An :class:`NRIResult` with ``kind="continuous"``.

    Raises:
        InvalidPredictionsError: Bad inputs.

    Example:
        >>> r = continuous_nri([1, 1, 0, 0], [0.8, 0.4, 0.2, 0.5], [0.6, 0.5, 0.3, 0.5])
        >>> r.events, r.nonevents, r.nri
        (0.0, 0.5, 0.5)
    """
    event, new, old = _prepare(y, p_new, p_old)
    return _nri_from_moves(event, new > old, new < old, "continuous", ())


def _check_cutoffs(cutoffs: Sequence[float]) -> tuple[float, ...]:
    cuts = tuple(float(c) for c in np.atleast_1d(np.asarray(cutoffs, dtype=float)))
    ok = (len(cuts) > 0 and all(0.0 < c < 1.0 for c in cuts)
          and all(a < b for a, b in zip(cuts, cuts[1:])))
    if not ok:
        raise InvalidPredictionsError(
            f"cutoffs: expected one or more strictly increasing risk cut-offs in (0, 1); got "
            f"{list(cuts)!r}. Pass e.g. [0.5] or clinically meaningful categories such as [0.1, 0.3]."
        )
    return cuts


def categorical_nri(y: Any, p_new: Any, p_old: Any, cutoffs: Sequence[float]) -> NRIResult:
    """NRI over risk categories cut at ``cutoffs``.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p_new: New model's probabilities, shape ``(n,)``.
        p_old: Reference model's probabilities, shape ``(n,)``.
        cutoffs: Strictly increasing cut-offs in (0, 1); ``k`` cut-offs make
            ``k + 1`` categories, ``p == cutoff`` falls in the higher one.

    Returns:
        An :class:`NRIResult` with ``kind="categorical"``.

    Raises:
        InvalidPredictionsError: Bad inputs or cut-offs.

    Example:
        >>> r = categorical_nri([1, 1, 0, 0], [0.8, 0.4, 0.2, 0.5], [0.6, 0.5, 0.3, 0.5], [0.5])
        >>> r.up_events, r.down_events, r.nri
        (0, 1, -0.5)
    """
    cuts = _check_cutoffs(cutoffs)
    event, new, old = _prepare(y, p_new, p_old)
    cat_new = np.digitize(new, cuts, right=False)
    cat_old = np.digitize(old, cuts, right=False)
    return _nri_from_moves(event, cat_new > cat_old, cat_new < cat_old, "categorical", cuts)


def idi(y: Any, p_new: Any, p_old: Any) -> IDIResult:
    """Integrated discrimination improvement of ``p_new`` over ``p_old``.

    Args:
        y: 0/1 outcomes, shape ``(n,)``.
        p_new: New model's probabilities, shape ``(n,)``.
        p_old: Reference model's probabilities, shape ``(n,)``.

    Returns:
        An :class:`IDIResult`; SE is NaN when a class has fewer than 2 patients.

    Raises:
        InvalidPredictionsError: Bad inputs.

    Example:
        >>> r = idi([1, 1, 0, 0], [0.9, 0.7, 0.2, 0.3], [0.6, 0.6, 0.4, 0.4])
        >>> [round(v, 4) for v in (r.events, r.nonevents, r.idi)]
        [0.2, -0.15, 0.35]
    """
    event, new, old = _prepare(y, p_new, p_old)
    d = new - old
    de, dn = d[event], d[~event]
    ev, ne = float(de.mean()), float(dn.mean())
    if de.size < 2 or dn.size < 2:
        se = math.nan
    else:
        se = math.sqrt(de.var(ddof=1) / de.size + dn.var(ddof=1) / dn.size)
    value = ev - ne
    z, p = z_test(value, se)
    return IDIResult(value, ev, ne, se, z, p)
