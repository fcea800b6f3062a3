"""Ray Data settings for one block of code, restored afterwards.

Ray Data reads its options (progress bars, how many failed blocks a run may
tolerate, …) from a process-wide :class:`ray.data.DataContext`.  A library
function that changes them for its own datasets must put them back, or the
caller's next dataset silently runs with them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def data_context(**settings: Any) -> Iterator[Any]:
    """Set attributes of Ray Data's current ``DataContext`` inside the block.

    Every changed attribute gets its previous value back on exit, also when
    the block raises.

    Args:
        **settings: ``DataContext`` attribute names and the values to use,
            e.g. ``enable_progress_bars=False``.

    Yields:
        The current ``DataContext``.

    Raises:
        TypeError: When a name is not a ``DataContext`` attribute (nothing is
            changed then).

    Example:
        >>> from ray.data import DataContext
        >>> before = DataContext.get_current().enable_progress_bars
        >>> with data_context(enable_progress_bars=not before) as ctx:
        ...     ctx.enable_progress_bars == (not before)
        True
        >>> DataContext.get_current().enable_progress_bars == before
        True
    """
    from ray.data import DataContext

    ctx = DataContext.get_current()
    unknown = sorted(name for name in settings if not hasattr(ctx, name))
    if unknown:
        raise TypeError(f"data_context: expected DataContext attributes; got {', '.join(unknown[:5])}. "
                        "Check the spelling against ray.data.DataContext.")
    saved = {name: getattr(ctx, name) for name in settings}
    try:
        for name, value in settings.items():
            setattr(ctx, name, value)
        yield ctx
    finally:
        for name, value in saved.items():
            setattr(ctx, name, value)
