"""Two simulated radiologists' ALNM calls without and with model assistance (Zhang 2025 reader study).

Each radiologist reads the lymph node (its involvement, seen through reading
noise) and calls ALNM above a personal threshold; with assistance the call
also weighs a model's output, which tracks the latent risk closely.  Both see
only what the images show, so with ``signal = 0`` every call is independent
of the label, and with signal the assisted calls are more accurate.

The paper (prospective set, n = 107): junior accuracy 70.1 % → 82.1 %,
specificity 61.9 % → 85.7 %; senior 76.1 % → 86.3 %, specificity 87.3 % →
98.4 %.  The weights and thresholds below give the same ordering (assisted >
unassisted, senior > junior, assisted calls more specific); their exact
values are assumptions.

Example:
    >>> import numpy as np
    >>> calls = reader_calls(1.0, 1.2, np.random.default_rng(0))
    >>> sorted(calls) == sorted(READER_CALL_COLUMNS) and set(calls.values()) <= {0, 1}
    True
"""

from __future__ import annotations

import numpy as np

from alnm_ray.synth.studies import READER_CALL_COLUMNS

#: Per reader: (loading of the own reading on node involvement, own threshold,
#: weight of own reading when assisted, assisted threshold).  The junior reads
#: noisier and calls more positives; the senior is stricter.
_READERS = {"reader1": (0.55, -0.15, 0.45, 0.25), "reader2": (0.70, 0.45, 0.40, 0.50)}
#: Correlation of the model's output with the latent risk score.
MODEL_RISK_CORRELATION = 0.95


def reader_calls(risk: float, involvement: float, rng: np.random.Generator) -> dict[str, int]:
    """The four 0/1 calls of :data:`~alnm_ray.synth.studies.READER_CALL_COLUMNS` for one patient.

    Args:
        risk: The patient's risk score (unit variance, :func:`~alnm_ray.synth.latent.risk_score`).
        involvement: The lymph node's involvement (:func:`~alnm_ray.synth.ultrasound.node_involvement`).
        rng: The patient's reader-call stream.
    """
    r = MODEL_RISK_CORRELATION
    model = r * risk + np.sqrt(1.0 - r * r) * float(rng.standard_normal())
    out: dict[str, int] = {}
    for name, (loading, threshold, own_weight, assisted_threshold) in _READERS.items():
        own = loading * involvement + np.sqrt(1.0 - loading ** 2) * float(rng.standard_normal())
        assisted = (own_weight * own + model) / np.sqrt(own_weight ** 2 + 1.0 + 2 * own_weight * loading * 0.85 * r)
        out[f"{name}_call"] = int(own > threshold)
        out[f"{name}_call_assisted"] = int(assisted > assisted_threshold)
    return {k: out[k] for k in READER_CALL_COLUMNS}


__all__ = ["MODEL_RISK_CORRELATION", "reader_calls"]
