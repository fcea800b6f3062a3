"""Study protocols: one versioned, validated YAML file per published study.

A protocol fixes a whole study -- sequences and ROIs, preprocessing per
sequence, PyRadiomics params, the deep extractor per sequence, selection per
feature kind, feature sets, classifiers, the CV and validation designs, the
rule that picks the final model and what the report shows.  Shipped
protocols: ``guo2024``, ``liu2025``, ``gu2025``, ``zhang2025``.  ``alnm-ray protocol
list|show|check`` reads them; ``alnm-ray run PROTOCOL`` runs one end to end.

Example:
    >>> from alnm_ray.protocol import SHIPPED, load_protocol
    >>> [load_protocol(n).name for n in SHIPPED]
    ['guo2024', 'liu2025', 'gu2025', 'zhang2025']
"""

from alnm_ray.protocol.load import SHIPPED, ProtocolError, load_protocol, parse_protocol, schema_problems
from alnm_ray.protocol.model import Assumption, Comparison, Protocol, ValidationSet

__all__ = ["SHIPPED", "Assumption", "Comparison", "Protocol", "ProtocolError", "ValidationSet",
           "load_protocol", "parse_protocol", "schema_problems"]
