"""The nomogram figure: its axes, labels and saved files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from alnm_ray.plots import plot_nomogram, save_figure
from alnm_ray.stats import ClinicalLogisticModel, Nomogram


@pytest.fixture
def nomo(rng):
    n = 300
    X = pd.DataFrame({"size": rng.gamma(4, 0.6, n), "her2": rng.choice(["neg", "pos"], n),
                      "ln_score": rng.normal(size=n)})
    lp = -2 + 0.7 * X["size"] + 0.9 * (X["her2"] == "pos") + 1.2 * X["ln_score"]
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-lp))).astype(int)
    return Nomogram.from_model(ClinicalLogisticModel(univariate_p=None).fit(X, y))


def test_axes_and_labels_drawn(nomo):
    fig = plot_nomogram(nomo, labels={"size": "Tumour size (cm)"}, outcome="Risk of ALNM")
    texts = [t.get_text() for t in fig.axes[0].texts]
    for name in ("Points", "Tumour size (cm)", "her2", "ln_score", "Total points",
                 "Linear predictor", "Risk of ALNM"):
        assert name in texts
    assert {"neg", "pos", "0", "100"} <= set(texts)
    # Probability labels sit where their total points fall on the ruler.
    table = nomo.probability_table()
    shown = [t for t in fig.axes[0].texts if t.get_text() == "0.5"]
    if 0.5 in table["probability"].tolist():
        x = float(table.loc[table["probability"] == 0.5, "total_points"].iloc[0])
        assert shown and shown[0].get_position()[0] == pytest.approx(
            x * 100 / nomo.max_total_points)


def test_saved_png_and_svg_are_non_trivial(nomo, tmp_path):
    paths = save_figure(plot_nomogram(nomo), tmp_path / "nomogram")
    assert [p.suffix for p in paths] == [".png", ".svg"]
    assert paths[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and paths[0].stat().st_size > 20_000
    svg = paths[1].read_text(encoding="utf-8")
    assert svg.count("<path") > 50  # axes, ticks and text drawn as paths
