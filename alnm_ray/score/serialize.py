"""Saving and loading fitted pipelines: skops first, joblib only as a fallback.

skops (https://skops.readthedocs.io) stores an estimator as a JSON schema plus
arrays and, on load, builds only types the caller trusts; pickle (joblib) runs
whatever code the file names.  So:

* :func:`dump_model` writes skops when skops can round-trip the fitted object
  (checked at save time by loading it back and comparing predictions), and
  falls back to joblib only when skops cannot (it raises, or the reloaded
  object fails or predicts differently).  The fallback is logged, warned about
  and recorded in the bundle metadata with its reason.
* pandas objects inside fitted steps (which skops cannot rebuild) travel as
  plain arrays (:mod:`alnm_ray.score.pandas_state`) instead of forcing pickle.
* :func:`load_model` trusts exactly :data:`TRUSTED_TYPES` plus the package's own
  classes (``alnm_ray.*``); a skops file naming any other type is refused.
  It is only ever called on bytes whose checksum was verified first.

A new classifier or selection step whose fitted state holds a type outside
the list is refused at training time (``ConfigError`` naming the type): review
the type and add it to :data:`TRUSTED_TYPES`.
"""

from __future__ import annotations

import io
import logging
import warnings
from typing import Any

import numpy as np

from alnm_ray.exceptions import AlnmRayWarning, BundleIntegrityError, ConfigError
from alnm_ray.score import pandas_state

logger = logging.getLogger(__name__)

FORMAT_SKOPS = "skops"
FORMAT_JOBLIB = "joblib"
#: File extension per format.
EXTENSIONS: dict[str, str] = {FORMAT_SKOPS: ".skops", FORMAT_JOBLIB: ".joblib"}
#: Our own estimators (selection steps, classifier wrappers) are trusted by prefix:
#: their state is plain arrays and scikit-learn objects, reviewed in this package.
OWN_PREFIX = "alnm_ray."

#: Types outside skops's default-trusted set that the selection pipeline and the
#: eight registered classifiers need, each reviewed: estimator classes and their
#: fitted helper objects (trees, neighbour indexes, optimiser state, boosters
#: stored as their own model bytes).  Nothing here executes code on load.
TRUSTED_TYPES: frozenset[str] = frozenset({
    # pipelines and resampling (SMOTE is skipped at predict time)
    "imblearn.pipeline.Pipeline",
    "imblearn.over_sampling._smote.base.SMOTE",
    # KNN: its neighbour index and distance metric
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    # SVM: Platt scaling wrapper (CalibratedClassifierCV(SVC, ensemble=False))
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # AdaBoost / trees
    "sklearn.tree._tree.Tree",
    # MLP optimiser state
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # XGBoost and LightGBM keep their model as bytes / text inside a Booster
    "xgboost.sklearn.XGBClassifier",
    "xgboost.core.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",
    "collections.OrderedDict",
})


class FallbackSerialisationWarning(AlnmRayWarning):
    """A model was saved with joblib (pickle) because skops could not round-trip it."""


class UntrustedTypeError(BundleIntegrityError):
    """A skops file names a type outside the trusted list."""


def _is_trusted(name: str) -> bool:
    return name in TRUSTED_TYPES or name.startswith(OWN_PREFIX)


def _same_predictions(a: Any, b: Any, probe: Any) -> bool:
    if probe is None or not hasattr(a, "predict_proba"):
        return True
    return bool(np.allclose(np.asarray(a.predict_proba(probe)), np.asarray(b.predict_proba(probe)),
                            rtol=0.0, atol=1e-12, equal_nan=True))


def _skops_round_trip(model: Any, probe: Any) -> tuple[bytes, list[str]]:
    """skops bytes and the non-default types they name; raises when skops cannot round-trip."""
    import skops.io as sio

    data = sio.dumps(pandas_state.encode(model))
    types = sorted(sio.get_untrusted_types(data=data))
    # We are the author here: trusting every type only tests whether skops can rebuild it.
    again = pandas_state.decode(sio.loads(data, trusted=types))
    if not _same_predictions(model, again, probe):
        raise ValueError("the reloaded model's probabilities differ from the fitted model's")
    return data, types


def dump_model(model: Any, *, probe: Any = None) -> tuple[bytes, dict[str, Any]]:
    """Serialise a fitted model, preferring skops.

    Args:
        model: A fitted estimator or pipeline.
        probe: A few input rows (DataFrame or array) used to check that the
            reloaded model predicts the same probabilities; ``None`` skips the check.

    Returns:
        ``(bytes, info)`` where ``info`` holds ``format`` (``skops``/``joblib``),
        ``trusted_types`` (types beyond skops's defaults the file names) and,
        for joblib, ``fallback_reason``.

    Raises:
        ConfigError: When skops works but names a type outside :data:`TRUSTED_TYPES`,
            or when neither skops nor joblib can serialise the model.
    """
    try:
        data, types = _skops_round_trip(model, probe)
    except Exception as err:  # noqa: BLE001 - any skops failure means "skops cannot handle it"
        reason = f"{_culprits(model)}{type(err).__name__}: {err}"
        return _dump_joblib(model, reason), {"format": FORMAT_JOBLIB, "trusted_types": [],
                                              "fallback_reason": reason[:500]}
    outside = [t for t in types if not _is_trusted(t)]
    if outside:
        raise ConfigError(
            f"model: expected only reviewed types in the saved pipeline (alnm_ray.score.serialize."
            f"TRUSTED_TYPES); found {', '.join(outside[:8])}. Check that these types cannot run code "
            "when rebuilt, then add them to TRUSTED_TYPES, or choose another classifier."
        )
    return data, {"format": FORMAT_SKOPS, "trusted_types": types}


def _culprits(model: Any) -> str:
    """``"steps icc, clf: "`` naming the parts skops cannot round-trip on their own (or "")."""
    import skops.io as sio

    parts: list[tuple[str, Any]] = []
    selection = getattr(model, "selection", None)
    for name, step in list(getattr(selection, "steps", None) or getattr(model, "steps", None) or []):
        parts.append((str(name), step))
    if getattr(model, "classifier", None) is not None:
        parts.append(("classifier", model.classifier))
    bad = []
    for name, part in parts:
        try:
            data = sio.dumps(pandas_state.encode(part))
            sio.loads(data, trusted=sio.get_untrusted_types(data=data))
        except Exception:  # noqa: BLE001 - only naming the culprit here
            bad.append(name)
    return f"step(s) {', '.join(bad)}: " if bad else ""


def _dump_joblib(model: Any, reason: str) -> bytes:
    import joblib

    buf = io.BytesIO()
    try:
        joblib.dump(model, buf)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(
            f"model: expected a pipeline skops or joblib can save; skops failed ({reason[:200]}) and "
            f"joblib failed ({type(err).__name__}: {err}). Avoid lambdas and open handles in estimator "
            "attributes."
        ) from err
    message = (f"model: saved with joblib (pickle) because skops could not round-trip it ({reason[:200]}). "
               "Loading this bundle runs pickle after its checksums are verified; share it only with "
               "people who trust its author.")
    warnings.warn(message, FallbackSerialisationWarning, stacklevel=3)
    logger.warning(message)
    return buf.getvalue()


def load_model(data: bytes, fmt: str, *, name: str = "model") -> Any:
    """Rebuild a model from verified bytes.

    Args:
        data: File content, already checked against the bundle's checksums.
        fmt: ``skops`` or ``joblib``.
        name: The file's name, for messages.

    Returns:
        The fitted model.

    Raises:
        UntrustedTypeError: When a skops file names a type outside the trusted list.
        BundleIntegrityError: When the format is unknown or the file cannot be rebuilt.
    """
    if fmt == FORMAT_SKOPS:
        import skops.io as sio

        types = sorted(sio.get_untrusted_types(data=data))
        outside = [t for t in types if not _is_trusted(t)]
        if outside:
            raise UntrustedTypeError(
                f"{name}: expected only reviewed types (alnm_ray.score.serialize.TRUSTED_TYPES); found "
                f"{', '.join(outside[:8])}. Nothing was built. Load only bundles written by "
                "`alnm-ray train`, or review these types and add them to TRUSTED_TYPES."
            )
        try:
            return pandas_state.decode(sio.loads(data, trusted=types))
        except Exception as err:  # noqa: BLE001
            raise BundleIntegrityError(
                f"{name}: expected a skops file this version of the libraries can rebuild; failed with "
                f"{type(err).__name__}: {err}. Re-train the bundle with the installed library versions."
            ) from err
    if fmt == FORMAT_JOBLIB:
        import joblib

        logger.warning("%s: loading a joblib (pickle) model; its checksum was verified first", name)
        return joblib.load(io.BytesIO(data))
    raise BundleIntegrityError(
        f"{name}: expected format 'skops' or 'joblib' in the bundle metadata; found {fmt!r}. "
        "Re-create the bundle with `alnm-ray train`."
    )
