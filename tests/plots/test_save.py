"""save_figure writes PNG + SVG, reproducibly, without pyplot state."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from alnm_ray.exceptions import ConfigError
from alnm_ray.plots import save_figure


def _fig() -> Figure:
    fig = Figure(figsize=(3, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    return fig


def test_writes_png_and_svg(tmp_path):
    paths = save_figure(_fig(), tmp_path / "sub" / "roc.test")
    assert [p.name for p in paths] == ["roc.test.png", "roc.test.svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths[1].read_text(encoding="utf-8").lstrip().startswith("<?xml") and "<svg" in paths[1].read_text(encoding="utf-8")


def test_svg_is_reproducible(tmp_path):
    a = save_figure(_fig(), tmp_path / "a", formats=("svg",))[0].read_bytes()
    b = save_figure(_fig(), tmp_path / "b", formats=("svg",))[0].read_bytes()
    assert a == b


def test_closes_pyplot_figures(tmp_path):
    fig = plt.figure()
    assert plt.fignum_exists(fig.number)
    save_figure(fig, tmp_path / "p", formats=("png",))
    assert not plt.fignum_exists(fig.number)


def test_bad_format(tmp_path):
    with pytest.raises(ConfigError, match="formats: expected figure formats"):
        save_figure(_fig(), tmp_path / "x", formats=("gif89",))
