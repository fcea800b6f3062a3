"""The latent risk, the ALNM label, and the oracle AUC.

Each patient has five standard-normal tumour traits (:class:`Phenotype`) that
drive what the images show: size, margin irregularity/spiculation, internal
heterogeneity, DCE enhancement and ADC restriction.  The ALNM label is drawn as

    label ~ Bernoulli(sigmoid(latent)),
    latent = intercept + signal * LATENT_SCALE * (w · traits),

with ``w`` of unit length and the intercept solved so that the expected
prevalence equals the configured one.  With ``signal = 0`` the latent is a
constant: labels are independent of everything the images show.

The **oracle AUC** is the AUC of the latent itself: no model of the images can
do better in expectation.

Example:
    >>> round(latent_intercept(0.0, 0.433), 3)  # logit(0.433)
    -0.27
    >>> round(expected_oracle_auc(0.0, 0.433), 3)
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq

from alnm_ray.synth._fields import sigmoid

#: Names of the traits, in the order of :data:`TRAIT_WEIGHTS`.
TRAITS: tuple[str, ...] = ("size", "irregularity", "heterogeneity", "enhancement", "restriction")
#: Relative weight of each trait in the risk (normalised to unit length).  Size
#: and margin spiculation are the strongest imaging correlates of nodal spread
#: in the radiomics literature; enhancement and diffusion restriction weaker.
TRAIT_WEIGHTS: tuple[float, ...] = (1.0, 0.9, 0.7, 0.6, 0.7)
#: SD of the latent's linear part at ``signal = 1``: gives an oracle AUC ≈ 0.82
#: at 43 % prevalence (the paper's best model reached 0.846 on its test set).
LATENT_SCALE = 1.6

_W = np.asarray(TRAIT_WEIGHTS) / np.linalg.norm(TRAIT_WEIGHTS)
_GRID = np.linspace(-9.0, 9.0, 6001)
_PDF = np.exp(-0.5 * _GRID ** 2)
_PDF /= _PDF.sum()


@dataclass(frozen=True)
class Phenotype:
    """A patient's tumour traits, each standard normal, independent of the centre."""

    size: float
    irregularity: float
    heterogeneity: float
    enhancement: float
    restriction: float

    def as_array(self) -> np.ndarray:
        """The traits in :data:`TRAITS` order, shape ``(5,)``."""
        return np.array([getattr(self, f.name) for f in fields(self)])

    def to_dict(self) -> dict[str, float]:
        """``{trait: value}`` rounded to 6 digits."""
        return {f.name: round(float(getattr(self, f.name)), 6) for f in fields(self)}


def draw_phenotype(rng: np.random.Generator) -> Phenotype:
    """Draw the five traits (independent standard normals)."""
    return Phenotype(*(float(v) for v in rng.standard_normal(len(TRAITS))))


def risk_score(phenotype: Phenotype) -> float:
    """The unit-variance combination ``w · traits`` the label depends on."""
    return float((phenotype.as_array() * _W).sum())


@lru_cache(maxsize=64)
def latent_intercept(signal: float, prevalence: float) -> float:
    """The intercept giving ``E[sigmoid(latent)] = prevalence`` at this signal."""
    scale = signal * LATENT_SCALE
    return float(brentq(lambda b: float((sigmoid(b + scale * _GRID) * _PDF).sum()) - prevalence,
                        -30.0, 30.0, xtol=1e-12))


def latent_risk(phenotype: Phenotype, signal: float, prevalence: float) -> float:
    """The latent (log-odds of ALNM) of one patient."""
    return latent_intercept(signal, prevalence) + signal * LATENT_SCALE * risk_score(phenotype)


def draw_label(latent: float, rng: np.random.Generator) -> int:
    """``Bernoulli(sigmoid(latent))`` from its own stream (one uniform)."""
    return int(rng.random() < float(sigmoid(latent)))


@lru_cache(maxsize=64)
def expected_oracle_auc(signal: float, prevalence: float) -> float:
    """The population AUC of the latent for the label (numerical integration).

    Returns 0.5 when ``signal == 0``.
    """
    if signal == 0.0:
        return 0.5
    p = sigmoid(latent_intercept(signal, prevalence) + signal * LATENT_SCALE * _GRID)
    pos, neg = _PDF * p, _PDF * (1 - p)
    below = np.cumsum(neg) - neg  # negatives with a strictly lower score
    return float(((below + 0.5 * neg) * pos).sum() / (pos.sum() * neg.sum()))


def empirical_auc(scores: np.ndarray, labels: np.ndarray) -> float | None:
    """AUC of ``scores`` for binary ``labels``; ``None`` when a class is missing."""
    labels = np.asarray(labels)
    if labels.min(initial=0) == labels.max(initial=0) or len(np.unique(labels)) < 2:
        return None
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(labels, scores))
