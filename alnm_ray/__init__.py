"""alnm-ray: a distributed radiomics feature store and batch scoring on Ray.

The package predicts axillary lymph node metastasis (ALNM) in breast cancer
from mammography and MRI.  Importing it is cheap: Ray, PyRadiomics and torch
are imported only by the modules that need them, and Ray is never started at
import time (see :mod:`alnm_ray.runtime`).
"""

from alnm_ray._version import __version__
from alnm_ray.exceptions import (
    AlnmRayError,
    ExtractionError,
    GeometryMismatchError,
    ManifestError,
    NotFittedError,
    SchemaMismatchError,
)

__all__ = [
    "__version__",
    "AlnmRayError",
    "ExtractionError",
    "GeometryMismatchError",
    "ManifestError",
    "NotFittedError",
    "SchemaMismatchError",
]
