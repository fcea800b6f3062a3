"""Saving and loading fitted pipelines with skops only: pickle is never written nor loaded.

skops (https://skops.readthedocs.io) stores an estimator as a JSON schema plus
arrays and, on load, builds only the types the caller trusts; pickle (joblib)
runs whatever code the file names.  So:

* :func:`dump_model` writes skops, after checking that skops round-trips the
  fitted object (loaded back, same probabilities on a few training rows) and
  that every type it names is in :data:`TRUSTED_TYPES`.  A model skops cannot
  save is refused (``ConfigError`` naming the steps); there is no fallback.
* pandas objects inside fitted steps (which skops cannot rebuild) travel as
  plain arrays (:mod:`alnm_ray.score.pandas_state`).
* :func:`load_model` accepts only the ``skops`` format and builds only types in
  :data:`TRUSTED_TYPES`, matched by their exact fully qualified name: no
  prefixes, so a name another library's object is imported under
  (``alnm_ray.select.routing.clone`` is ``sklearn.base.clone``) is refused.
  It is only ever called on bytes whose signature and checksum were verified.

A new classifier or selection step whose fitted state holds a type outside
the list is refused at training time (``ConfigError`` naming the type): review
the type (its rebuilt state must not be able to run code) and add its exact
name to :data:`TRUSTED_TYPES`; ``tests/score/test_serialize.py`` checks the
list against what every classifier and selection step really needs.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import numpy as np

from alnm_ray.exceptions import BundleIntegrityError, ConfigError, UntrustedTypeError
from alnm_ray.score import pandas_state

logger = logging.getLogger(__name__)

FORMAT_SKOPS = "skops"
#: File extension per format (skops is the only one).
EXTENSIONS: dict[str, str] = {FORMAT_SKOPS: ".skops"}
#: Formats that unpickle: named in messages, never loaded.
PICKLE_FORMATS: frozenset[str] = frozenset({"joblib", "pickle", "pkl", "cloudpickle", "dill"})

#: This package's classes a bundle holds, by exact name: the frozen model, the
#: pandas carrier and every selection step.  Their state is arrays, lists,
#: dicts and scikit-learn objects; none defines ``__setstate__``/``__reduce__``.
OWN_TYPES: frozenset[str] = frozenset({
    "alnm_ray.score.frozen.FrozenModel",
    "alnm_ray.score.pandas_state.PandasState",
    "alnm_ray.select.cnn1d.CNN1DFeatures",
    "alnm_ray.select.combat.ComBatHarmonizer",
    "alnm_ray.select.correlation.CorrelationFilter",
    "alnm_ray.select.differential.DifferentialFilter",
    "alnm_ray.select.encode.ClinicalEncoder",
    "alnm_ray.select.icc.ICCFilter",
    "alnm_ray.select.importance.ImportanceSelector",
    "alnm_ray.select.lasso.LassoCVSelector",
    "alnm_ray.select.lasso_logistic.LogisticLassoSelector",
    "alnm_ray.select.mrmr.MRMRSelector",
    "alnm_ray.select.mutual_info.MutualInfoSelector",
    "alnm_ray.select.routing.KindRouter",
    "alnm_ray.select.scale.ZScoreScaler",
    "alnm_ray.select.smote.SafeSMOTE",
    "alnm_ray.select.univariate.UnivariateFilter",
})

#: Other libraries' types beyond skops's default-trusted set that the selection
#: pipeline and the eight registered classifiers need, each reviewed: estimator
#: classes and their fitted helper objects (trees, neighbour indexes, optimiser
#: state, boosters stored as their own model bytes).  Nothing here executes code
#: on load.  The parameter that brings each in is noted.
LIBRARY_TYPES: frozenset[str] = frozenset({
    # the selection pipeline (SMOTE runs at fit time only)
    "imblearn.pipeline.Pipeline",
    # knn: neighbour index (algorithm auto/kd_tree/ball_tree) and distance (metric, p)
    "sklearn.neighbors._kd_tree.KDTree",
    "sklearn.neighbors._ball_tree.BallTree",
    "sklearn.metrics._dist_metrics.EuclideanDistance64",
    "sklearn.metrics._dist_metrics.ManhattanDistance64",
    "sklearn.metrics._dist_metrics.MinkowskiDistance64",
    # svm: Platt scaling wrapper (CalibratedClassifierCV(SVC, ensemble=False))
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    # adaboost: decision stumps
    "sklearn.tree._tree.Tree",
    # mlp: optimiser state (solver adam / sgd)
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    # xgboost and lightgbm keep their model as bytes / text inside a Booster
    "xgboost.sklearn.XGBClassifier",
    "xgboost.core.Booster",
    "lightgbm.sklearn.LGBMClassifier",
    "lightgbm.basic.Booster",
})

#: Every type a bundle may name beyond skops's defaults: exact names only.
TRUSTED_TYPES: frozenset[str] = OWN_TYPES | LIBRARY_TYPES


#: Packages that importing ``skops.io`` imports for nothing: skops lists scikit-learn's estimators
#: with ``sklearn.utils.all_estimators``, whose ``pkgutil.walk_packages`` imports every package of
#: scikit-learn to find its subpackages -- among them ``sklearn.externals.array_api_compat.torch``,
#: which imports torch (2-3 s and ~300 MB on every scoring run).  No estimator lives there (the walk
#: skips ``externals`` modules anyway), and a package whose import fails is skipped by the walk, so
#: the list of skops's default-trusted types is the same without it.
SKOPS_IMPORT_SKIPS: tuple[str, ...] = ("sklearn.externals.array_api_compat.torch",)


def skops_io() -> Any:
    """``skops.io``, imported without the packages of :data:`SKOPS_IMPORT_SKIPS` (unless already imported).

    Those packages are hidden from the import system only while ``skops.io`` is imported; a later
    ``import`` of one of them works as usual.  When torch is already imported nothing is hidden.
    """
    if "skops.io" in sys.modules:
        return sys.modules["skops.io"]
    hidden = [] if "torch" in sys.modules else [m for m in SKOPS_IMPORT_SKIPS if m not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` raises ImportError meanwhile
    try:
        import skops.io as sio
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return sio


def is_trusted(name: str) -> bool:
    """True when ``name`` is exactly one of :data:`TRUSTED_TYPES` (no prefix matching)."""
    return name in TRUSTED_TYPES


def untrusted(types: list[str] | set[str]) -> list[str]:
    """The names among ``types`` outside :data:`TRUSTED_TYPES`, sorted."""
    return sorted(t for t in types if not is_trusted(t))


def _same_predictions(a: Any, b: Any, probe: Any) -> bool:
    if probe is None or not hasattr(a, "predict_proba"):
        return True
    return bool(np.allclose(np.asarray(a.predict_proba(probe)), np.asarray(b.predict_proba(probe)),
                            rtol=0.0, atol=1e-12, equal_nan=True))


def dump_model(model: Any, *, probe: Any = None) -> tuple[bytes, dict[str, Any]]:
    """Serialise a fitted model with skops.

    Args:
        model: A fitted estimator or pipeline.
        probe: A few input rows (DataFrame or array) used to check that the
            reloaded model predicts the same probabilities; ``None`` skips the check.

    Returns:
        ``(bytes, info)`` where ``info`` holds ``format`` (``skops``) and
        ``trusted_types`` (types beyond skops's defaults the file names).

    Raises:
        ConfigError: When skops cannot save or rebuild the model, the rebuilt
            model predicts differently, or the file names a type outside
            :data:`TRUSTED_TYPES`.
    """
    sio = skops_io()

    try:
        data = sio.dumps(pandas_state.encode(model))
        types = sorted(sio.get_untrusted_types(data=data))
    except Exception as err:  # noqa: BLE001 - any skops failure means "skops cannot handle it"
        raise ConfigError(_cannot_save(model, f"{type(err).__name__}: {err}")) from err
    outside = untrusted(types)
    if outside:
        raise ConfigError(
            f"model: expected only reviewed types in the saved pipeline (alnm_ray.score.serialize."
            f"TRUSTED_TYPES); found {', '.join(outside[:8])}. Check that these types cannot run code "
            "when rebuilt, then add their exact names to TRUSTED_TYPES, or choose another classifier."
        )
    try:
        again = pandas_state.decode(sio.loads(data, trusted=types))
        same = _same_predictions(model, again, probe)
    except Exception as err:  # noqa: BLE001
        raise ConfigError(_cannot_save(model, f"{type(err).__name__}: {err}")) from err
    if not same:
        raise ConfigError(_cannot_save(model, "the reloaded model's probabilities differ from the fitted model's"))
    return data, {"format": FORMAT_SKOPS, "trusted_types": types}


def _cannot_save(model: Any, reason: str) -> str:
    return (f"model: expected a fitted pipeline skops can save and rebuild exactly; {_culprits(model)}"
            f"{reason[:300]}. Bundles never fall back to pickle: keep estimator attributes to arrays, "
            "numbers, strings and estimators (no regexes, lambdas or open handles), or choose another "
            "classifier.")


def _culprits(model: Any) -> str:
    """``"step(s) icc, classifier: "`` naming the parts skops cannot round-trip on their own (or "")."""
    sio = skops_io()

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
        except Exception:  # noqa: BLE001 - only naming the culprit here (our own in-memory object)
            bad.append(name)
    return f"step(s) {', '.join(bad)} fail: " if bad else ""


def check_format(fmt: Any, *, name: str = "model") -> None:
    """Refuse any model format but skops, before a byte of the model is read.

    Raises:
        BundleIntegrityError: Naming the format; pickle-based ones are called out.
    """
    if fmt == FORMAT_SKOPS:
        return
    if str(fmt).lower() in PICKLE_FORMATS:
        raise BundleIntegrityError(
            f"{name}: expected format 'skops'; found {fmt!r}, which unpickles and can run any code. "
            "Nothing was deserialised: alnm-ray never loads pickle. Re-train the bundle with "
            "`alnm-ray train` (this version writes skops only).")
    raise BundleIntegrityError(f"{name}: expected format 'skops'; found {fmt!r}. Nothing was deserialised. "
                               "Re-create the bundle with `alnm-ray train`.")


def load_model(data: bytes, fmt: str, *, name: str = "model") -> Any:
    """Rebuild a model from verified bytes.

    Args:
        data: File content, already checked against the bundle's signature and checksums.
        fmt: Must be ``skops``.
        name: The file's name, for messages.

    Returns:
        The fitted model.

    Raises:
        UntrustedTypeError: When the file names a type outside the trusted list.
        BundleIntegrityError: When the format is not skops or the file cannot be rebuilt.
    """
    check_format(fmt, name=name)
    sio = skops_io()

    try:
        types = sorted(sio.get_untrusted_types(data=data))
    except Exception as err:  # noqa: BLE001 - a corrupt archive
        raise BundleIntegrityError(f"{name}: expected a skops archive; could not list its types "
                                   f"({type(err).__name__}: {err}). Re-create the bundle.") from err
    outside = untrusted(types)
    if outside:
        raise UntrustedTypeError(
            f"{name}: expected only reviewed types (alnm_ray.score.serialize.TRUSTED_TYPES, exact names); "
            f"found {', '.join(outside[:8])}. Nothing was built. Load only bundles written by "
            "`alnm-ray train`, or review these types and add their exact names to TRUSTED_TYPES."
        )
    try:
        return pandas_state.decode(sio.loads(data, trusted=types))
    except Exception as err:  # noqa: BLE001
        raise BundleIntegrityError(
            f"{name}: expected a skops file this version of the libraries can rebuild; failed with "
            f"{type(err).__name__}: {err}. Re-train the bundle with the installed library versions."
        ) from err
