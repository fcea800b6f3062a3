"""alnm-ray: a distributed radiomics feature store and batch scoring on Ray.

The package predicts axillary lymph node metastasis (ALNM) in breast cancer
from mammography and MRI.  Importing it is cheap: Ray, PyRadiomics and torch
are imported only by the modules that need them, and Ray is never started at
import time (see :mod:`alnm_ray.runtime`).
"""

from typing import TYPE_CHECKING, Any

from alnm_ray import exceptions as _exceptions
from alnm_ray._version import __version__

if TYPE_CHECKING:
    from alnm_ray.exceptions import *  # noqa: F403 - every error and warning (exceptions.__all__)

__all__ = ["__version__", *_exceptions.__all__]


def __getattr__(name: str) -> Any:
    # Errors and warnings are read from alnm_ray.exceptions on first use: NotFittedError is made
    # only when asked for, as it imports scikit-learn.
    if name in _exceptions.__all__:
        return getattr(_exceptions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
