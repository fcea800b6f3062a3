"""Frozen model bundles and batch scoring.

``train_bundle`` fits a feature set's selection pipeline and classifier on the
training patients of the feature store and writes a checksummed bundle folder;
``load_bundle`` verifies every checksum before deserialising anything;
``score_features`` / ``score_manifests`` apply a bundle to stored features or
to new images (replaying the bundle's own preprocessing and extraction), with
schema and drift checks, per-case error rows and external-validation reports.

Heavy modules (Ray, the extraction and embedding jobs) load only when a
function needs them.
"""

from alnm_ray.score.bundle import Bundle, BundleFiles, load_bundle, read_bundle_files, write_bundle
from alnm_ray.score.checksums import CHECKSUM_FILE, IntegrityReport
from alnm_ray.score.drift import PSI_MODERATE, PSI_SIGNIFICANT, TrainingDistribution, drift_report
from alnm_ray.score.frozen import FrozenModel
from alnm_ray.score.schema_check import SchemaDiff, check_feature_schema, diff_features
from alnm_ray.score.serialize import TRUSTED_TYPES, UntrustedTypeError

__all__ = [
    "CHECKSUM_FILE",
    "PSI_MODERATE",
    "PSI_SIGNIFICANT",
    "TRUSTED_TYPES",
    "Bundle",
    "BundleFiles",
    "FrozenModel",
    "IntegrityReport",
    "SchemaDiff",
    "ScoreOptions",
    "ScoreResult",
    "TrainConfig",
    "TrainResult",
    "TrainingDistribution",
    "UntrustedTypeError",
    "check_feature_schema",
    "diff_features",
    "drift_report",
    "load_bundle",
    "read_bundle_files",
    "score_features",
    "score_manifests",
    "train_bundle",
    "write_bundle",
]

_LAZY = {
    "ScoreOptions": "alnm_ray.score.job", "ScoreResult": "alnm_ray.score.job",
    "score_features": "alnm_ray.score.job", "score_manifests": "alnm_ray.score.job",
    "TrainConfig": "alnm_ray.score.train", "TrainResult": "alnm_ray.score.train",
    "train_bundle": "alnm_ray.score.train",
}


def __getattr__(name: str):  # the jobs pull in the model engine and the store: load on first use
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'alnm_ray.score' has no attribute {name!r}")
