"""Save a figure as PNG and SVG in one call."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from alnm_ray.exceptions import ConfigError

__all__ = ["save_figure"]

#: Formats written by default.
DEFAULT_FORMATS: tuple[str, ...] = ("png", "svg")


def save_figure(fig: Figure, path_stem: str | Path, *, formats: Sequence[str] = DEFAULT_FORMATS,
                dpi: int = 150) -> list[Path]:
    """Write ``fig`` to ``<path_stem>.png`` and ``<path_stem>.svg``, then close it.

    SVGs are reproducible (fixed hash salt, no date), so re-running a report
    gives byte-identical files.  Parent folders are created.

    Args:
        fig: The figure (from any plot function here).
        path_stem: Output path without extension, e.g. ``report/roc_test``;
            any dots in the name are kept.
        formats: File formats (matplotlib names, e.g. ``png``, ``svg``, ``pdf``).
        dpi: Resolution of raster formats, dots per inch.

    Returns:
        The written paths, in ``formats`` order.

    Raises:
        ConfigError: An unsupported format.
    """
    stem = Path(path_stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    supported = fig.canvas.get_supported_filetypes()
    paths = []
    with matplotlib.rc_context({"svg.hashsalt": "alnm-ray", "svg.fonttype": "path"}):
        for fmt in formats:
            if fmt not in supported:
                raise ConfigError(
                    f"formats: expected figure formats among {sorted(supported)}; got {fmt!r}. "
                    "Use png and/or svg."
                )
            path = stem.with_name(f"{stem.name}.{fmt}")
            meta = {"Date": None} if fmt == "svg" else None
            fig.savefig(path, format=fmt, dpi=dpi, metadata=meta)
            paths.append(path)
    if "matplotlib.pyplot" in sys.modules:  # only pyplot-managed figures need closing
        sys.modules["matplotlib.pyplot"].close(fig)
    return paths
