"""Feature identity and reporting standards: IBSI codes, the IBSI-1 phantom check, CLEAR/TRIPOD+AI.

Only light modules are imported here; the phantom check (Ray, PyRadiomics) and the
dictionary builder (the store) are imported on first use.
"""

from alnm_ray.standards.mapping import (CONFORMANT, CONVENTION, NOT_IN_IBSI, conformance,
                                        conformance_for_columns, parse_column)

__all__ = [
    "CONFORMANT",
    "CONVENTION",
    "NOT_IN_IBSI",
    "conformance",
    "conformance_for_columns",
    "parse_column",
]
