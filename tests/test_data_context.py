"""data_context: Ray Data settings changed for a block and always put back."""

from __future__ import annotations

import pytest
from ray.data import DataContext

from alnm_ray.data_context import data_context


def test_settings_apply_inside_and_are_restored_after_an_error() -> None:
    ctx = DataContext.get_current()
    before = (ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start)
    with pytest.raises(RuntimeError, match="boom"):
        with data_context(enable_progress_bars=not before[0], max_errored_blocks=before[1] + 7,
                          print_on_execution_start=not before[2]) as inside:
            assert inside is DataContext.get_current()
            assert (inside.enable_progress_bars, inside.max_errored_blocks, inside.print_on_execution_start) == (
                not before[0], before[1] + 7, not before[2])
            raise RuntimeError("boom")
    ctx = DataContext.get_current()
    assert (ctx.enable_progress_bars, ctx.max_errored_blocks, ctx.print_on_execution_start) == before


def test_an_unknown_setting_is_rejected_before_anything_changes() -> None:
    ctx = DataContext.get_current()
    before = ctx.enable_progress_bars
    with pytest.raises(TypeError, match=r"expected DataContext attributes; got enable_progres_bars\. Check"):
        with data_context(enable_progress_bars=not before, enable_progres_bars=True):
            pass  # pragma: no cover - never entered
    assert DataContext.get_current().enable_progress_bars == before
