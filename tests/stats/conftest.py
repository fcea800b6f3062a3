"""Small synthetic prediction sets for the statistics tests."""

from __future__ import annotations

import numpy as np
import pytest


def make_predictions(rng: np.random.Generator, n: int = 120, prevalence: float = 0.43,
                     signal: tuple[float, ...] = (0.9, 0.45, 0.65), round_to: int | None = None,
                     ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Outcomes and correlated model probabilities (logistic in a shared latent score)."""
    y = (rng.uniform(size=n) < prevalence).astype(int)
    y[:2] = [0, 1]  # both classes, always
    shared = rng.normal(size=n)
    models = {}
    for k, s in enumerate(signal):
        lp = s * (y - prevalence) * 2 + 0.6 * shared + 0.8 * rng.normal(size=n) - 0.3
        p = 1.0 / (1.0 + np.exp(-lp))
        models[f"m{k}"] = np.round(p, round_to) if round_to is not None else p
    return y, models


@pytest.fixture
def preds(rng):
    """(y, {"m0", "m1", "m2"}) for 120 patients, continuous probabilities."""
    return make_predictions(rng)


@pytest.fixture
def tied_preds(rng):
    """Like ``preds`` but probabilities rounded to 1 decimal (many ties)."""
    return make_predictions(rng, round_to=1)


#: Hanley & McNeil (1982), Radiology 143:29-36, Table 1: CT images of 109
#: patients rated on a 5-point scale (1 = definitely normal ... 5 = definitely
#: abnormal); counts per rating for 58 normal and 51 abnormal patients.
#: The paper reports an area of 0.893 (Wilcoxon / trapezoidal).
HANLEY_MCNEIL_NORMAL = (33, 6, 6, 11, 2)
HANLEY_MCNEIL_ABNORMAL = (3, 2, 2, 11, 33)


@pytest.fixture
def hanley_mcneil():
    ratings = np.arange(1, 6)
    neg = np.repeat(ratings, HANLEY_MCNEIL_NORMAL)
    pos = np.repeat(ratings, HANLEY_MCNEIL_ABNORMAL)
    return np.r_[np.zeros(neg.size, int), np.ones(pos.size, int)], np.r_[neg, pos].astype(float)


@pytest.fixture
def make_preds():
    """The :func:`make_predictions` factory (conftest modules are not importable)."""
    return make_predictions
