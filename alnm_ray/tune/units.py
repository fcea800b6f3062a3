"""Work units of a sweep: one Ray Tune trial each.

A unit is coarse on purpose.  Ray Tune starts, tracks and checkpoints every
trial, which costs tenths of a second to seconds per trial on a small machine
(measured: see ``benchmarks/bench_tune.py``), more than one classifier fit.
So a CV unit is (a group of feature sets, a chunk of repeats): the trial runs
:func:`alnm_ray.model.run_cv` over its repeats for every classifier, fitting
each fold's selection once and sharing it across the classifiers.  When a
sweep has fewer repeats than the trials it wants (3 repeats on 2 CPUs: two
waves, one CPU idle for the second), the automatic plan splits each repeat's
folds into chunks instead (same rows: folds are seeded by repeat and fold).  A
post-fusion set is grouped with its component sets so their per-fold
selections are shared too.  The hold-out protocol and every held-out centre
are one unit per group as well.  With a random search, every CV unit is
repeated once per candidate (``candidate`` set).

Unit ids are stable (names, repeats, centre, candidate), so an interrupted
sweep resumes by skipping units whose result files exist.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

#: Unit kinds.
KIND_CV = "cv"
KIND_HOLDOUT = "holdout"
KIND_LOCO = "loco"
#: Trials per CPU the automatic chunking aims for (load balance vs. per-trial overhead).
TRIALS_PER_CPU = 4
_MAX_SLUG = 48


@dataclass(frozen=True)
class Unit:
    """One trial's work.

    Attributes:
        uid: Stable id (also the result files' stem).
        kind: "cv", "holdout" or "loco".
        plain: Plain feature sets evaluated and reported.
        fusion: ``((post name, (components...)), ...)`` evaluated and reported.
        components: Every set the unit needs (plain + fusion components).
        repeats: CV repeats (kind "cv").
        folds: CV folds of each repeat (kind "cv"; empty = all of them).
        center: Held-out centre (kind "loco").
        candidate: Random-search candidate index (kind "cv" with a search).
        cost: Relative cost estimate (largest units are scheduled first).
    """

    uid: str
    kind: str
    plain: tuple[str, ...]
    fusion: tuple[tuple[str, tuple[str, ...]], ...]
    components: tuple[str, ...]
    repeats: tuple[int, ...] = ()
    center: str | None = None
    candidate: int | None = None
    cost: float = 1.0
    folds: tuple[int, ...] = ()

    @property
    def sets(self) -> list[str]:
        """Every reported set: plain ones then post-fusion ones."""
        return list(self.plain) + [name for name, _ in self.fusion]


def slug(text: str) -> str:
    """A file-name-safe, bounded rendering of ``text``.

    Example:
        >>> slug("post:clinical+radiomics")
        'post-clinical+radiomics'
    """
    s = re.sub(r"[^A-Za-z0-9+_.-]", "-", str(text))
    if len(s) > _MAX_SLUG:
        s = s[:_MAX_SLUG - 9] + "~" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return s


def set_groups(plain: Sequence[str], fusion: Mapping[str, Sequence[str]]
               ) -> list[tuple[list[str], dict[str, list[str]]]]:
    """Group sets that share selections: a post-fusion set with its components.

    Returns:
        ``[(plain sets, {post name: components}), ...]``; post-fusion sets
        sharing a component land in one group.

    Example:
        >>> set_groups(["radiomics", "deep", "combined"], {"post:radiomics+deep": ["radiomics", "deep"]})
        [(['radiomics', 'deep'], {'post:radiomics+deep': ['radiomics', 'deep']}), (['combined'], {})]
    """
    groups: list[tuple[set[str], dict[str, list[str]]]] = []
    for name, parts in fusion.items():
        members = set(parts)
        merged = [g for g in groups if g[0] & members]
        for g in merged:
            groups.remove(g)
            members |= g[0]
        fus = {k: v for g in merged for k, v in g[1].items()}
        fus[name] = list(parts)
        groups.append((members, fus))
    out: list[tuple[list[str], dict[str, list[str]]]] = []
    placed: set[str] = set()
    for members, fus in groups:
        out.append(([p for p in plain if p in members], fus))
        placed |= members
    out += [([p], {}) for p in plain if p not in placed]
    order = {name: i for i, name in enumerate(list(plain) + list(fusion))}
    out.sort(key=lambda g: min(order[n] for n in g[0] + list(g[1])))
    return out


def repeat_chunks(repeats: int, n_chunks: int | None = None, chunk: int | None = None
                  ) -> list[tuple[int, ...]]:
    """Split ``range(repeats)`` into consecutive chunks.

    Args:
        repeats: Number of CV repeats.
        n_chunks: Balanced chunks wanted (used when ``chunk`` is None).
        chunk: Repeats per chunk (last one may be shorter).

    Example:
        >>> repeat_chunks(5, chunk=2)
        [(0, 1), (2, 3), (4,)]
        >>> repeat_chunks(5, n_chunks=2)
        [(0, 1, 2), (3, 4)]
    """
    if chunk is not None:
        return [tuple(range(s, min(s + chunk, repeats))) for s in range(0, repeats, chunk)]
    n = max(1, min(repeats, int(n_chunks or 1)))
    return [tuple(int(r) for r in part) for part in np.array_split(np.arange(repeats), n)]


def auto_chunks(repeats: int, n_groups: int, cpus: int, samples: int = 1) -> int:
    """Chunks per group so the sweep has about ``TRIALS_PER_CPU`` trials per CPU.

    Example:
        >>> auto_chunks(20, n_groups=1, cpus=2), auto_chunks(20, n_groups=8, cpus=2)
        (8, 1)
    """
    want = TRIALS_PER_CPU * max(1, int(cpus))
    return max(1, min(repeats, math.ceil(want / max(1, n_groups * samples))))


def fold_pieces(repeats: int, folds: int, n_groups: int, cpus: int, samples: int = 1) -> int:
    """Fold chunks per repeat when the repeats alone give fewer trials than wanted.

    :func:`auto_chunks` caps the trials per group at one per repeat; with
    fewer repeats than that, each repeat's folds are split so the sweep still
    has about ``TRIALS_PER_CPU`` trials per CPU (1 = whole repeats).

    Example:
        >>> fold_pieces(3, 5, n_groups=1, cpus=2), fold_pieces(20, 5, n_groups=1, cpus=2)
        (3, 1)
    """
    want = math.ceil(TRIALS_PER_CPU * max(1, int(cpus)) / max(1, n_groups * samples))
    return 1 if want <= repeats else min(folds, math.ceil(want / repeats))


def _group_cost(plain: Sequence[str], fusion: Mapping[str, Sequence[str]],
                widths: Mapping[str, int], inner_folds: int) -> float:
    def one(name: str) -> float:
        return 1.0 + widths.get(name, 0) / 500.0

    return sum(one(p) for p in plain) + sum(
        (inner_folds + 1) * sum(one(p) for p in parts) for parts in fusion.values())


def plan_units(plain: Sequence[str], fusion: Mapping[str, Sequence[str]], *, repeats: int,
               folds: int, widths: Mapping[str, int], cpus: int, chunk: int | None = None,
               holdout: bool = True, centers: Sequence[str] = (), samples: int | None = None,
               fusion_inner_folds: int = 5) -> list[Unit]:
    """Every unit of a sweep, largest first.

    Args:
        plain, fusion: Requested sets (see :func:`set_groups`).
        repeats, folds: CV design.
        widths: Feature count per set (cost estimate only).
        cpus: Concurrent trials (automatic chunking).
        chunk: Repeats per CV unit (None = automatic: whole repeats, or chunks
            of folds when there are fewer repeats than wanted trials).
        holdout: Add the hold-out units.
        centers: Held-out centres of leave-one-centre-out (empty = none).
        samples: Random-search candidates (None = no search).
        fusion_inner_folds: Inner folds of post-fusion (cost estimate only).

    Returns:
        Units sorted by decreasing estimated cost (ties by id).
    """
    groups = set_groups(plain, fusion)
    n_chunks = auto_chunks(repeats, len(groups), cpus, samples or 1)
    chunks = repeat_chunks(repeats, n_chunks=n_chunks, chunk=chunk)
    pieces = 1 if chunk is not None else fold_pieces(repeats, folds, len(groups), cpus, samples or 1)
    fold_sets = [()] if pieces == 1 else repeat_chunks(folds, n_chunks=pieces)
    units: list[Unit] = []
    for g_plain, g_fus in groups:
        key = slug(",".join(g_plain + list(g_fus)))
        comps = tuple(dict.fromkeys(g_plain + [p for parts in g_fus.values() for p in parts]))
        fus = tuple((k, tuple(v)) for k, v in g_fus.items())
        cost = _group_cost(g_plain, g_fus, widths, fusion_inner_folds)
        search_factor = 1.0 if samples is None else 2.0
        candidates = [None] if samples is None else list(range(samples))
        for reps in chunks:
            for fs in fold_sets:
                for k in candidates:
                    uid = (f"{KIND_CV}.{key}.r{reps[0]:03d}-{reps[-1]:03d}"
                           + (f".f{fs[0]:02d}-{fs[-1]:02d}" if fs else "")
                           + ("" if k is None else f".c{k:03d}"))
                    units.append(Unit(uid, KIND_CV, tuple(g_plain), fus, comps, reps, None, k,
                                      cost * len(reps) * (len(fs) or folds) * search_factor, fs))
        heavy = 1.0 if samples is None else float(samples)
        if holdout:
            units.append(Unit(f"{KIND_HOLDOUT}.{key}", KIND_HOLDOUT, tuple(g_plain), fus, comps,
                              cost=cost * heavy))
        for c in centers:
            units.append(Unit(f"{KIND_LOCO}.{slug(c)}.{key}", KIND_LOCO, tuple(g_plain), fus, comps,
                              center=str(c), cost=cost * heavy))
    units.sort(key=lambda u: (-u.cost, u.uid))
    return units
