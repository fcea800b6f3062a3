"""The package's errors and warnings.

Every error the user can fix derives from :class:`AlnmRayError`; the CLI turns
these into a one-paragraph message and a non-zero exit instead of a traceback.
Where callers may already catch a built-in type, the error also derives from it.
"""

from __future__ import annotations


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


class NotFittedError(AlnmRayError, ValueError, AttributeError):
    """An estimator was used before ``fit``."""


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


class ConfigError(AlnmRayError, ValueError):
    """A configuration value is out of range or of the wrong kind."""


class RayConnectionError(AlnmRayError, RuntimeError):
    """The driver could not join the Ray cluster (wrong address, cluster down, token refused)."""


class AlnmRayWarning(UserWarning):
    """Base class of the package's warnings."""


class RandomWeightsWarning(AlnmRayWarning):
    """A deep model runs with randomly initialised weights."""


class FallbackWarning(AlnmRayWarning):
    """A documented fallback policy was applied (e.g. SMOTE skipped in a fold)."""


class DriftWarning(AlnmRayWarning):
    """New data drifts from the training distribution."""
