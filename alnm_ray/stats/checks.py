"""Input validation shared by every statistic: labels, probabilities, lengths.

Each check names the item, what was expected, what was found (first few
offending positions, sorted) and how to fix it, and raises
:class:`InvalidPredictionsError`, which the CLI turns into a clean message.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from alnm_ray.exceptions import InvalidPredictionsError

__all__ = ["MAX_SHOWN", "InvalidPredictionsError", "Rows", "check_inputs", "check_labels", "check_level",
           "check_models", "check_probabilities"]

#: How many offending positions or values an error message lists.
MAX_SHOWN = 5


#: Optional row naming for messages: (description, labels per position),
#: e.g. ``("CSV line(s)", np.arange(2, n + 2))``.
Rows = tuple[str, np.ndarray] | None


def _where(idx: np.ndarray, rows: Rows) -> str:
    if rows is None:
        return f"row position(s) {_show(idx)} (0-based)"
    return f"{rows[0]} {_show(np.asarray(rows[1])[idx])}"


def _show(values: Sequence[Any] | np.ndarray) -> str:
    vals = list(values)
    shown = ", ".join(repr(v.item() if isinstance(v, np.generic) else v) for v in vals[:MAX_SHOWN])
    return shown + (f", … ({len(vals)} in all)" if len(vals) > MAX_SHOWN else "")


def _non_numeric(arr: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Positions and sorted distinct text of the values that do not convert to float."""
    bad = []
    for i, v in enumerate(arr.tolist()):
        try:
            float(v)
        except (TypeError, ValueError):
            bad.append(i)
    idx = np.asarray(bad, dtype=np.int64)
    return idx, sorted({str(arr[i]) for i in bad})


def check_labels(y: Any, *, name: str = "label", require_both: bool = True,
                 rows: Rows = None) -> np.ndarray:
    """Return ``y`` as a 1-D ``int8`` array of 0/1 outcomes.

    Accepts integers, floats equal to 0.0/1.0 and booleans.

    Args:
        y: Outcomes, shape ``(n,)``; 1 = event (ALNM+), 0 = no event.
        name: What ``y`` is called in error messages (a column name).
        require_both: Also require at least one 0 and one 1.
        rows: How to name offending rows in messages (default: 0-based positions).

    Returns:
        ``np.ndarray`` of dtype ``int8``, shape ``(n,)``.

    Raises:
        InvalidPredictionsError: ``y`` is empty, not 1-D, holds missing values,
            values other than 0/1, or (with ``require_both``) a single class.

    Example:
        >>> check_labels([0, 1, 1.0, True]).tolist()
        [0, 1, 1, 1]
    """
    arr = np.asarray(y)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidPredictionsError(
            f"{name}: expected a non-empty 1-D sequence of 0/1 outcomes; got shape {arr.shape}. "
            "Pass one outcome per patient."
        )
    if arr.dtype == bool:
        out = arr.astype(np.int8)
    else:
        try:
            num = arr.astype(np.float64)
        except (TypeError, ValueError):
            idx, uniq = _non_numeric(arr)
            raise InvalidPredictionsError(
                f"{name}: expected outcomes coded 0 (no event) and 1 (event); got non-numeric "
                f"values {_show(uniq)} at {_where(idx, rows)}. Recode the column to 0/1."
            ) from None
        missing = np.flatnonzero(np.isnan(num))
        if missing.size:
            raise InvalidPredictionsError(
                f"{name}: expected an outcome for every patient; got {missing.size} missing value(s) "
                f"at {_where(missing, rows)}. Remove those rows or fill in the "
                "outcome; rows are never dropped silently."
            )
        bad = ~np.isin(num, (0.0, 1.0))
        if bad.any():
            raise InvalidPredictionsError(
                f"{name}: expected outcomes coded 0 (no event) and 1 (event); got values "
                f"{_show(np.unique(num[bad]))} at {_where(np.flatnonzero(bad), rows)}. "
                "Recode the column to 0/1."
            )
        out = num.astype(np.int8)
    if require_both:
        n_pos = int(out.sum())
        if n_pos == 0 or n_pos == out.size:
            only = 1 if n_pos else 0
            raise InvalidPredictionsError(
                f"{name}: expected both outcomes (0 and 1) to be present; got only {only} "
                f"in all {out.size} rows. AUC, DeLong, calibration and NRI need events and "
                "non-events; evaluate on a set that contains both."
            )
    return out


def check_probabilities(p: Any, *, name: str = "probability", n: int | None = None,
                        probability: bool = True, rows: Rows = None) -> np.ndarray:
    """Return ``p`` as a finite 1-D ``float64`` array (in [0, 1] if ``probability``).

    Args:
        p: Predicted probabilities (or scores), shape ``(n,)``.
        name: What ``p`` is called in error messages (a model/column name).
        n: The required length (the number of labels), or ``None``.
        probability: Require values in [0, 1]; ``False`` accepts any finite score
            (enough for rank statistics such as AUC and DeLong).
        rows: How to name offending rows in messages (default: 0-based positions).

    Returns:
        ``np.ndarray`` of dtype ``float64``, shape ``(n,)``.

    Raises:
        InvalidPredictionsError: Wrong shape or length, non-numeric values, NaN
            or infinity, or values outside [0, 1].

    Example:
        >>> check_probabilities([0.2, 0.9], n=2).tolist()
        [0.2, 0.9]
    """
    arr = np.asarray(p)
    if arr.ndim != 1 or arr.size == 0:
        raise InvalidPredictionsError(
            f"{name}: expected a non-empty 1-D sequence of predicted probabilities; got shape "
            f"{arr.shape}. Pass one prediction per patient."
        )
    if n is not None and arr.size != n:
        raise InvalidPredictionsError(
            f"{name}: expected {n} predictions (one per label); got {arr.size}. Make sure the "
            "labels and every model's predictions come from the same patients in the same order."
        )
    try:
        out = arr.astype(np.float64)
    except (TypeError, ValueError):
        idx, uniq = _non_numeric(arr)
        raise InvalidPredictionsError(
            f"{name}: expected numeric predicted probabilities; got non-numeric values "
            f"{_show(uniq)} at {_where(idx, rows)}. Fix or remove those rows."
        ) from None
    bad = np.flatnonzero(~np.isfinite(out))
    if bad.size:
        raise InvalidPredictionsError(
            f"{name}: expected a finite prediction for every patient; got {bad.size} NaN/infinite "
            f"value(s) at {_where(bad, rows)}. Remove those rows or re-score "
            "them; rows are never dropped silently."
        )
    if probability:
        out_of = np.flatnonzero((out < 0.0) | (out > 1.0))
        if out_of.size:
            raise InvalidPredictionsError(
                f"{name}: expected probabilities in [0, 1]; got {out_of.size} value(s) outside, "
                f"e.g. {_show(out[out_of])} at {_where(out_of, rows)}. Pass "
                "predicted probabilities (e.g. predict_proba[:, 1]), not logits or scores."
            )
    return out


def check_inputs(y: Any, p: Any, *, label_name: str = "label", name: str = "probability",
                 probability: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Check labels (both classes present) and one model's predictions together.

    Returns:
        ``(y, p)`` as ``int8`` and ``float64`` arrays of equal length.

    Raises:
        InvalidPredictionsError: See :func:`check_labels` and :func:`check_probabilities`.
    """
    yy = check_labels(y, name=label_name)
    return yy, check_probabilities(p, name=name, n=yy.size, probability=probability)


def check_models(y: Any, models: Mapping[str, Any], *, label_name: str = "label",
                 probability: bool = True, rows: Rows = None,
                 ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Check labels and several models' predictions for the same patients.

    Returns:
        ``(y, {name: p})`` with every ``p`` a ``float64`` array as long as ``y``.

    Raises:
        InvalidPredictionsError: No models given, or any check fails.
    """
    if not models:
        raise InvalidPredictionsError(
            "models: expected at least one model's predictions; got none. Pass e.g. "
            "{'radiomics_lr': probabilities}."
        )
    yy = check_labels(y, name=label_name, rows=rows)
    return yy, {str(k): check_probabilities(v, name=str(k), n=yy.size, probability=probability,
                                            rows=rows)
                for k, v in models.items()}


def check_level(level: float) -> float:
    """Check a confidence level is in (0, 1).

    Raises:
        InvalidPredictionsError: ``level`` outside (0, 1).
    """
    if not 0.0 < float(level) < 1.0:
        raise InvalidPredictionsError(
            f"level: expected a confidence level in (0, 1), e.g. 0.95; got {level!r}. "
            "Pass a fraction, not a percentage."
        )
    return float(level)
