"""Small prediction sets for the plot tests."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def y_p2(rng):
    """(y, {"radiomics": p, "deep": p}) for 90 patients, centres C1-C3."""
    n = 90
    y = (rng.uniform(size=n) < 0.45).astype(int)
    y[:2] = [0, 1]
    lp = 1.2 * (y - 0.45) * 2 + rng.normal(size=n)
    lp2 = 0.6 * (y - 0.45) * 2 + rng.normal(size=n)
    centres = np.array(["C1", "C2", "C3"])[np.arange(n) % 3]
    return y, {"radiomics": 1 / (1 + np.exp(-lp)), "deep": 1 / (1 + np.exp(-lp2))}, centres


def legend_texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]


@pytest.fixture
def legend():
    return legend_texts
