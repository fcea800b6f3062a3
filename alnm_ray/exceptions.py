"""The package's errors and warnings.

Every error the user can fix derives from :class:`AlnmRayError`; the CLI turns
these into a one-paragraph message and a non-zero exit instead of a traceback.
Where callers may already catch a built-in type, the error also derives from it.
Warnings the user can act on derive from :class:`AlnmRayWarning`.  Every class
here is also importable from :mod:`alnm_ray`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

__all__ = [
    "AlnmRayError",
    "BundleIntegrityError",
    "BundleSignatureError",
    "ConfigError",
    "EmptySelectionError",
    "ExtractionError",
    "GeometryMismatchError",
    "InvalidPredictionsError",
    "LogisticFitError",
    "ManifestError",
    "MaskSpecError",
    "NotFittedError",
    "PhantomError",
    "ProtocolError",
    "RayConnectionError",
    "RunFolderError",
    "SchemaMismatchError",
    "StageError",
    "StoreDamageError",
    "StoreError",
    "SweepError",
    "UnseenBatchError",
    "UntrustedTypeError",
    "WeightsError",
    "AlnmRayWarning",
    "DriftWarning",
    "FallbackWarning",
    "LibraryVersionWarning",
    "RandomWeightsWarning",
    "SchemaAlignedWarning",
    "UnsignedBundleWarning",
    "WeightsMismatchWarning",
]


class AlnmRayError(Exception):
    """Base class of every error raised by alnm-ray on purpose."""


class ManifestError(AlnmRayError, ValueError):
    """A cohort manifest or clinical table does not satisfy its schema.

    Args:
        problems: One human-readable line per problem (row, column, expected,
            found, fix).  The message lists them all.
    """

    def __init__(self, problems: list[str], source: str = "manifest") -> None:
        self.problems = list(problems)
        self.source = source
        head = f"{source}: {len(self.problems)} problem(s) found"
        super().__init__(head + ":\n" + "\n".join(f"  - {p}" for p in self.problems))


class GeometryMismatchError(AlnmRayError, ValueError):
    """An image and its mask do not share size, spacing, origin or direction."""


class ExtractionError(AlnmRayError, RuntimeError):
    """Feature extraction failed for one case."""


class StageError(ExtractionError):
    """A case failed in one preprocessing or extraction stage; ``cause`` is the original exception.

    Args:
        stage: The stage's name (see :data:`alnm_ray.preprocess.pipeline.STAGES`).
        cause: The exception raised by the step.

    Example:
        >>> str(StageError("resample", ValueError("spacing must be > 0")))
        'resample: ValueError: spacing must be > 0'
    """

    def __init__(self, stage: str, cause: BaseException) -> None:
        self.stage = stage
        self.cause = cause
        super().__init__(f"{stage}: {type(cause).__name__}: {cause}")


class SchemaMismatchError(AlnmRayError, ValueError):
    """A feature table does not have the columns a model or store expects."""


class StoreError(AlnmRayError, RuntimeError):
    """The feature store could not be read or written."""


class StoreDamageError(StoreError):
    """A store's catalog entry or data file is missing, altered or escapes the store.

    ``alnm-ray features verify`` lists every such problem and ``features
    repair`` moves the damaged versions into the store's ``_quarantine/``.
    """


class BundleIntegrityError(AlnmRayError, RuntimeError):
    """A model bundle's files do not match their recorded checksums."""


class BundleSignatureError(BundleIntegrityError):
    """A bundle is unsigned, signed by an untrusted key, or its signature does not match."""


class ConfigError(AlnmRayError, ValueError):
    """A configuration value is out of range or of the wrong kind."""


class WeightsError(ConfigError):
    """A weights file cannot be read or does not fit the embedding network."""


class InvalidPredictionsError(AlnmRayError, ValueError):
    """Labels or predicted probabilities cannot be evaluated as given."""


class LogisticFitError(AlnmRayError, ValueError):
    """A logistic regression has no finite maximum-likelihood fit on the given rows."""


class SweepError(AlnmRayError, RuntimeError):
    """Some trials of a sweep failed (finished units are kept for a re-run)."""


class PhantomError(AlnmRayError, FileNotFoundError):
    """The IBSI phantom folder lacks its files."""


class RayConnectionError(AlnmRayError, RuntimeError):
    """The driver could not join the Ray cluster (wrong address, cluster down, token refused)."""


class MaskSpecError(ManifestError):
    """A row's ``mask_label``/``mask_color_tolerance``/``mask_threshold`` cannot be decoded.

    Attributes:
        column, expected, found, fix: The four parts of the message.
    """

    def __init__(self, column: str, expected: str, found: str, fix: str) -> None:
        super().__init__([f"column '{column}': expected {expected}; found {found}. Fix: {fix}"],
                         source="mask decoding")
        self.column, self.expected, self.found, self.fix = column, expected, found, fix


class ProtocolError(ConfigError):
    """A study protocol file is malformed; ``problems`` holds one four-part line per problem."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [])


class RunFolderError(AlnmRayError, FileNotFoundError):
    """A run folder lacks a file the report needs."""


class EmptySelectionError(AlnmRayError, ValueError):
    """A selection step removed every feature and its policy is ``"raise"``."""


class UnseenBatchError(AlnmRayError, ValueError):
    """ComBat's ``transform`` met a centre absent from the training rows and the policy is "refuse"."""


class UntrustedTypeError(BundleIntegrityError):
    """A skops file names a type outside the trusted list."""


class AlnmRayWarning(UserWarning):
    """Base class of the package's warnings."""


class RandomWeightsWarning(AlnmRayWarning):
    """A deep model runs with randomly initialised weights."""


class FallbackWarning(AlnmRayWarning):
    """A documented fallback policy was applied (e.g. SMOTE skipped in a fold)."""


class DriftWarning(AlnmRayWarning):
    """New data drifts from the training distribution."""


class WeightsMismatchWarning(AlnmRayWarning):
    """A weights file was loaded with missing or unexpected keys (``strict=False``)."""


class UnsignedBundleWarning(AlnmRayWarning):
    """A bundle without a trusted signature was loaded because the user said so (``--trust-unsigned``)."""


class LibraryVersionWarning(AlnmRayWarning):
    """A bundle was trained with other versions of the modelling libraries."""


class SchemaAlignedWarning(AlnmRayWarning):
    """A cohort's feature columns were re-ordered or had extra columns dropped."""


if TYPE_CHECKING:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(AlnmRayError, _SklearnNotFittedError):
        """An estimator was used before ``fit`` (also scikit-learn's ``NotFittedError``)."""


def __getattr__(name: str) -> Any:
    # NotFittedError is also scikit-learn's, and importing scikit-learn takes seconds: the class is
    # made on first use, so `import alnm_ray` and `alnm-ray --help` stay fast.
    if name == "NotFittedError":
        return _not_fitted_error()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def _not_fitted_error() -> type:
    from sklearn.exceptions import NotFittedError as _SklearnNotFittedError

    class NotFittedError(AlnmRayError, _SklearnNotFittedError):
        """An estimator was used before ``fit``.

        Also a :class:`sklearn.exceptions.NotFittedError` (hence ``ValueError`` and
        ``AttributeError``), so scikit-learn's ``check_is_fitted`` callers catch it.
        """

    NotFittedError.__module__, NotFittedError.__qualname__ = __name__, "NotFittedError"  # pickles by name
    globals()["NotFittedError"] = NotFittedError
    return NotFittedError
