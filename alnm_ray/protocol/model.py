"""The :class:`Protocol`: one published study's whole method, frozen and typed.

A protocol is read from YAML (:func:`alnm_ray.protocol.load_protocol`),
validated against ``schemas/protocol.schema.json`` and then turned into the
configs the stages run with: the preprocessing plan, the PyRadiomics params,
the embedding config, one :class:`~alnm_ray.select.config.SelectionConfig`
(the per-kind blocks merged) and the CV design.  Its :attr:`Protocol.hash` is
the SHA-256 of its canonical JSON and enters every run record.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from alnm_ray.exceptions import ConfigError

#: Feature kinds with their own selection block.
KINDS: tuple[str, ...] = ("radiomics", "deep", "clinical")
#: Roles a validation set can have besides training.
ROLES: tuple[str, ...] = ("internal_validation", "test", "external", "temporal", "prospective")
#: What ``--quick`` changes: fewer CV repeats and folds, one LASSO repeat, fewer inner folds.
QUICK_LIMITS: dict[str, int] = {"cv.repeats": 2, "cv.folds": 3, "selection.lasso_repeats": 1,
                                "selection.lasso_folds": 3, "selection.importance_curve_folds": 3,
                                "classifiers.post_fusion.inner_folds": 3}


@dataclass(frozen=True)
class ValidationSet:
    """One evaluated set besides training: its name, role and the manifest ``split`` values in it."""

    name: str
    role: str
    splits: tuple[str, ...]


@dataclass(frozen=True)
class Assumption:
    """A value the paper does not state: key path, the value used, and why."""

    key: str
    value: Any
    reason: str


@dataclass(frozen=True)
class Comparison:
    """A comparison the paper reports: models (``set/classifier``), tests and sets."""

    name: str
    models: tuple[tuple[str, str], ...]
    tests: tuple[str, ...] = ("delong",)
    sets: tuple[str, ...] = ()


def _pair(text: str) -> tuple[str, str]:
    fs, _, clf = str(text).rpartition("/")
    return fs, clf


@dataclass(frozen=True)
class Protocol:
    """A validated study protocol (build with :func:`alnm_ray.protocol.load_protocol`).

    Attributes:
        name, version, title, citation: What the protocol is.
        data: The parsed YAML (the source of truth; every property reads it).
        text: The YAML text as read (comments and citations included).
        source: Where it was read from (a shipped name or a path).

    Example:
        >>> from alnm_ray.protocol import load_protocol
        >>> p = load_protocol("guo2024")
        >>> p.name, p.training_split, [s.name for s in p.validation_sets]
        ('guo2024', 'train', ['test'])
    """

    data: dict[str, Any]
    text: str = ""
    source: str = ""
    _hash: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        canonical = json.dumps(self.data, sort_keys=True, separators=(",", ":"), default=str)
        object.__setattr__(self, "_hash", hashlib.sha256(canonical.encode()).hexdigest())

    # -- identity -----------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.data["protocol"])

    @property
    def version(self) -> int:
        return int(self.data["version"])

    @property
    def title(self) -> str:
        return str(self.data["title"])

    @property
    def citation(self) -> str:
        return str(self.data["citation"])

    @property
    def hash(self) -> str:
        """SHA-256 of the canonical JSON of the protocol's values (comments excluded)."""
        return self._hash

    # -- data ---------------------------------------------------------------------------
    @property
    def sequences(self) -> tuple[str, ...]:
        return tuple(self.data["sequences"])

    @property
    def reader(self) -> str:
        return str(self.data["roi"]["reader"])

    @property
    def clinical_variables(self) -> tuple[str, ...]:
        return tuple((self.data.get("clinical") or {}).get("variables") or ())

    @property
    def clinical_model(self) -> dict[str, Any] | None:
        return (self.data.get("clinical") or {}).get("model")

    # -- selection ----------------------------------------------------------------------
    @property
    def kinds(self) -> tuple[str, ...]:
        """Feature kinds with a selection block, in :data:`KINDS` order."""
        return tuple(k for k in KINDS if k in self.data["selection"])

    def selection_dict(self, *, quick: bool = False) -> dict[str, Any]:
        """The merged :class:`SelectionConfig` fields (not yet validated by it).

        Kinds with identical steps are selected jointly (one chain over the set, as Guo and
        Liu did); different steps are routed per kind (``kind_steps``, Gu).

        Raises:
            ConfigError: Two kinds set one parameter to different values (this build's
                selection pipeline holds one value per parameter).
        """
        sel = self.data["selection"]
        merged: dict[str, Any] = {"name": self.name, **dict(sel.get("shared") or {})}
        owner: dict[str, str] = {}
        steps: dict[str, list[str]] = {}
        for kind in self.kinds:
            block = dict(sel[kind])
            steps[kind] = list(block.pop("steps"))
            for key, value in block.items():
                if key in merged and key in owner and merged[key] != value:
                    raise ConfigError(
                        f"selection.{kind}.{key}: expected the same value as selection.{owner[key]}.{key} "
                        f"({merged[key]!r}), because this build's selection pipeline holds one value per "
                        f"parameter for every kind; got {value!r}. Use one value, or select the kinds in "
                        "separate protocols.")
                merged[key], owner[key] = value, kind
        distinct = {tuple(v) for v in steps.values()}
        first = next(iter(steps.values()), [])
        merged["steps"] = list(first)
        merged["kind_steps"] = {} if len(distinct) <= 1 else {k: v for k, v in steps.items()}
        if quick:
            for key in ("lasso_repeats", "lasso_folds", "importance_curve_folds"):
                limit = QUICK_LIMITS[f"selection.{key}"]
                if key in merged and int(merged[key]) > limit:
                    merged[key] = limit
                elif key not in merged and key != "importance_curve_folds":
                    merged[key] = limit
        return merged

    def selection_config(self, *, quick: bool = False):  # -> SelectionConfig
        """The :class:`~alnm_ray.select.config.SelectionConfig` of this protocol.

        Raises:
            ConfigError: An unknown field or a bad value (from SelectionConfig itself).
        """
        from alnm_ray.select.config import SelectionConfig

        return SelectionConfig.from_dict(self.selection_dict(quick=quick))

    # -- models -------------------------------------------------------------------------
    @property
    def pre_sets(self) -> tuple[str, ...]:
        return tuple(self.data["feature_sets"]["pre"])

    @property
    def post_sets(self) -> tuple[str, ...]:
        return tuple(self.data["feature_sets"].get("post") or ())

    @property
    def feature_sets(self) -> tuple[str, ...]:
        return self.pre_sets + self.post_sets

    @property
    def classifiers(self) -> dict[str, dict[str, Any]]:
        return {k: dict(v or {}) for k, v in self.data["classifiers"]["models"].items()}

    @property
    def post_fusion(self) -> dict[str, Any]:
        return dict(self.data["classifiers"].get("post_fusion") or {})

    @property
    def post_fusion_base(self) -> tuple[str, ...]:
        """Base classifiers of the post-fusion sets (default: every classifier)."""
        return tuple(self.post_fusion.get("base") or self.classifiers)

    def cv(self, *, quick: bool = False) -> tuple[int, int, int]:
        """``(repeats, folds, seed)`` of the repeated CV (smaller with ``quick``)."""
        cv = self.data["cv"]
        repeats, folds, seed = int(cv["repeats"]), int(cv["folds"]), int(cv.get("seed", 0))
        if quick:
            repeats, folds = min(repeats, QUICK_LIMITS["cv.repeats"]), min(folds, QUICK_LIMITS["cv.folds"])
        return repeats, folds, seed

    def inner_folds(self, *, quick: bool = False) -> int:
        folds = int(self.post_fusion.get("inner_folds", 5))
        return min(folds, QUICK_LIMITS["classifiers.post_fusion.inner_folds"]) if quick else folds

    # -- validation design ------------------------------------------------------------------
    @property
    def training_split(self) -> str:
        return str(self.data["validation"]["training"])

    @property
    def validation_sets(self) -> tuple[ValidationSet, ...]:
        return tuple(ValidationSet(name, str(v["role"]), tuple(v["splits"]))
                     for name, v in self.data["validation"]["sets"].items())

    @property
    def splits(self) -> tuple[str, ...]:
        """Every ``split`` value the design reads, training first."""
        return tuple(dict.fromkeys([self.training_split]
                                   + [s for vs in self.validation_sets for s in vs.splits]))

    def role_of(self, split: str) -> str | None:
        """The set name a ``split`` value belongs to (``"training"`` for the training split)."""
        if split == self.training_split:
            return "training"
        return next((vs.name for vs in self.validation_sets if split in vs.splits), None)

    @property
    def final_model(self) -> dict[str, Any]:
        return dict(self.data["final_model"])

    # -- report ---------------------------------------------------------------------------
    @property
    def comparisons(self) -> tuple[Comparison, ...]:
        comps = (self.data.get("report") or {}).get("comparisons") or {}
        return tuple(Comparison(name, tuple(_pair(m) for m in c["models"]),
                                tuple(c.get("tests") or ("delong",)), tuple(c.get("sets") or ()))
                     for name, c in comps.items())

    @property
    def waterfall(self) -> tuple[tuple[str, str], ...]:
        return tuple(_pair(m) for m in (self.data.get("report") or {}).get("waterfall") or ())

    @property
    def odds_ratio_table(self) -> bool:
        return bool((self.data.get("report") or {}).get("odds_ratio_table"))

    @property
    def assumed(self) -> tuple[Assumption, ...]:
        return tuple(Assumption(str(a["key"]), a["value"], str(a["reason"]))
                     for a in self.data.get("assumed") or ())

    # -- stage configs --------------------------------------------------------------------
    def preprocess_plan(self):  # -> PreprocessPlan
        """The per-sequence preprocessing plan (``PreprocessPlan``)."""
        from alnm_ray.preprocess.config import PreprocessPlan

        pre = self.data["preprocessing"]
        return PreprocessPlan.from_dict({"name": f"{self.name}-v{self.version}",
                                         "default": dict(pre.get("default") or {}),
                                         "sequences": {k: dict(v) for k, v in (pre.get("sequences") or {}).items()}},
                                        source=f"protocol {self.name} preprocessing")

    def extraction_params(self):  # -> ExtractionParams
        """The PyRadiomics params (a preset name or the inline mapping)."""
        from alnm_ray.extract.params import load_params

        return load_params(self.data["radiomics"]["params"])

    @property
    def uses_deep(self) -> bool:
        """Whether any feature set reads deep features."""
        return any("deep" in s or "combined" in s for s in self.feature_sets)

    @property
    def uses_radiomics(self) -> bool:
        return any("radiomics" in s or "combined" in s for s in self.feature_sets)

    @property
    def uses_clinical(self) -> bool:
        return any("clinical" in s for s in self.feature_sets) or self.clinical_model is not None

    def embed_config(self):  # -> EmbedConfig
        """The embedding config (extractor per sequence, weights, grids)."""
        from alnm_ray.embed.config import EmbedConfig

        deep = dict(self.data.get("deep") or {})
        if "sequence_extractors" in deep:
            deep["sequence_extractors"] = tuple(sorted(deep["sequence_extractors"].items()))
        for key in ("grid", "grid_2d"):
            if key in deep:
                deep[key] = tuple(deep[key])
        return EmbedConfig(**deep)

    def to_dict(self) -> dict[str, Any]:
        """The protocol's values as plain data (a deep copy)."""
        return json.loads(json.dumps(self.data, default=str))
