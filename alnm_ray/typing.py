"""Type aliases shared across the package."""

from __future__ import annotations

import os
from typing import Union

import numpy as np
import numpy.typing as npt

#: A filesystem path given as a string or a path object.
PathLike = Union[str, "os.PathLike[str]"]
#: A patient identifier as it appears in the manifest.
PatientId = str
#: One case: (cohort, center, patient_id, sequence, reader).
CaseKey = tuple[str, str, str, str, str]
#: Voxel spacing in millimetres, SimpleITK (x, y, z) order.
Spacing = tuple[float, float, float]
#: A float array.
FloatArray = npt.NDArray[np.floating]
#: A seed or a NumPy generator.
SeedLike = Union[int, np.random.Generator, None]
