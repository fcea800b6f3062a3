"""Named random streams, so every patient's draws are independent of the others.

A patient's images depend only on ``(seed, patient index, stream)``: whether the
cohort is generated serially or in Ray tasks of any size, and whatever the other
patients are, the same patient gets the same bytes.  Streams are numbered rather
than spawned in order, so adding a stream later leaves the existing ones unchanged.
"""

from __future__ import annotations

from enum import IntEnum

import numpy as np


class PatientStream(IntEnum):
    """Independent random streams of one patient."""

    PHENOTYPE = 0
    LABEL = 1
    CLINICAL = 2
    LESION = 3
    ANATOMY = 4
    READERS = 5
    MG = 6
    NOISE = 7
    ULTRASOUND = 8
    NODE = 9
    READER_CALLS = 10


class CohortStream(IntEnum):
    """Independent random streams of the whole cohort."""

    CENTERS = 0
    ASSIGNMENT = 1
    REPEAT_READERS = 2
    SPLIT = 3
    US_SCANNERS = 4


_PATIENT, _COHORT = 0, 1


def patient_rng(seed: int, index: int, stream: PatientStream, *sub: int) -> np.random.Generator:
    """The generator of one patient's stream (``sub`` picks e.g. a sequence or reader).

    Example:
        >>> a = patient_rng(7, 3, PatientStream.LESION).random()
        >>> a == patient_rng(7, 3, PatientStream.LESION).random()
        True
    """
    return np.random.default_rng([int(seed), _PATIENT, int(index), int(stream), *map(int, sub)])


def cohort_rng(seed: int, stream: CohortStream) -> np.random.Generator:
    """The generator of a cohort-level stream (centres, assignment, subsets, split)."""
    return np.random.default_rng([int(seed), _COHORT, int(stream)])
