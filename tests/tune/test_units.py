"""Planning units: grouping post-fusion with its components, repeat chunks, stable ids."""

from __future__ import annotations

from alnm_ray.tune.units import (
    KIND_CV,
    KIND_HOLDOUT,
    KIND_LOCO,
    auto_chunks,
    fold_pieces,
    plan_units,
    repeat_chunks,
    set_groups,
    slug,
)


def test_fusion_sets_sharing_a_component_form_one_group() -> None:
    groups = set_groups(["radiomics", "deep", "clinical", "combined"],
                        {"post:clinical+radiomics": ["clinical", "radiomics"],
                         "post:radiomics+deep": ["radiomics", "deep"]})
    assert len(groups) == 2
    plain, fusion = groups[0]
    assert sorted(plain) == ["clinical", "deep", "radiomics"]
    assert sorted(fusion) == ["post:clinical+radiomics", "post:radiomics+deep"]
    assert groups[1] == (["combined"], {})


def test_fusion_component_not_requested_is_still_a_component() -> None:
    units = plan_units([], {"post:clinical+deep": ["clinical", "deep"]}, repeats=2, folds=3,
                       widths={}, cpus=1, chunk=1, holdout=False)
    assert {u.plain for u in units} == {()}
    assert all(u.components == ("clinical", "deep") for u in units)
    assert [u.sets for u in units][0] == ["post:clinical+deep"]


def test_chunks_cover_every_repeat_once() -> None:
    for repeats in (1, 5, 20):
        for n in (1, 3, 8, 40):
            chunks = repeat_chunks(repeats, n_chunks=n)
            assert sorted(r for c in chunks for r in c) == list(range(repeats))
            assert max(map(len, chunks)) - min(map(len, chunks)) <= 1
    assert repeat_chunks(5, chunk=2) == [(0, 1), (2, 3), (4,)]
    assert auto_chunks(20, n_groups=1, cpus=2) == 8
    assert auto_chunks(3, n_groups=1, cpus=16) == 3


def test_plan_has_unique_ids_all_kinds_and_largest_first() -> None:
    units = plan_units(["radiomics", "clinical"], {}, repeats=4, folds=5,
                       widths={"radiomics": 3000, "clinical": 10}, cpus=2, holdout=True,
                       centers=["C1", "C2"])
    ids = [u.uid for u in units]
    assert len(ids) == len(set(ids))
    kinds = [u.kind for u in units]
    assert kinds.count(KIND_HOLDOUT) == 2 and kinds.count(KIND_LOCO) == 4
    cv = [u for u in units if u.kind == KIND_CV]
    for name in ("radiomics", "clinical"):
        assert sorted(r for u in cv if u.plain == (name,) for r in u.repeats) == [0, 1, 2, 3]
    costs = [u.cost for u in units]
    assert costs == sorted(costs, reverse=True)
    assert units[0].plain == ("radiomics",)


def test_few_repeats_are_split_into_fold_chunks_covering_every_fold_once() -> None:
    assert fold_pieces(3, 5, n_groups=1, cpus=2) == 3
    assert fold_pieces(8, 5, n_groups=1, cpus=2) == 1
    units = plan_units(["radiomics"], {}, repeats=3, folds=5, widths={}, cpus=2, holdout=False)
    cv = [u for u in units if u.kind == KIND_CV]
    assert len(cv) == 9 and all(len(u.repeats) == 1 and u.folds for u in cv)
    pairs = sorted((r, f) for u in cv for r in u.repeats for f in u.folds)
    assert pairs == [(r, f) for r in range(3) for f in range(5)]
    assert len({u.uid for u in cv}) == 9 and "cv.radiomics.r001-001.f04-04" in {u.uid for u in cv}
    # --chunk keeps whole repeats (and the ids of earlier run folders).
    assert all(u.folds == () for u in plan_units(["radiomics"], {}, repeats=3, folds=5, widths={},
                                                 cpus=2, chunk=1, holdout=False))


def test_search_repeats_every_cv_unit_per_candidate() -> None:
    units = plan_units(["radiomics"], {}, repeats=2, folds=3, widths={}, cpus=1, chunk=2,
                       holdout=True, samples=3)
    cv = [u for u in units if u.kind == KIND_CV]
    assert sorted(u.candidate for u in cv) == [0, 1, 2]
    assert [u.candidate for u in units if u.kind == KIND_HOLDOUT] == [None]


def test_slug_is_file_safe_and_bounded() -> None:
    s = slug("post:" + "+".join(f"table_{i}" for i in range(20)))
    assert len(s) <= 48 and ":" not in s and "/" not in s
    assert slug("a/b") == "a-b"
