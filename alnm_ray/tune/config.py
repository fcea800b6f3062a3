"""Configuration of one ``alnm-ray tune`` sweep (frozen, validated, YAML-able, hashable).

The fields that change the numbers a sweep produces enter
:meth:`TuneRunConfig.content` and so the run id (with the input table
versions); scheduling fields (``chunk``, ``max_concurrent``) do not, so a
sweep resumed with another chunk size is a different *schedule* of the same
run only when the units coincide -- the unit files record their own repeats.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import ConfigError
from alnm_ray.model.classifiers import CLASSIFIER_NAMES
from alnm_ray.model.splits import TEST_SIZE

#: Search strategies: the fixed grid of defaults, or random sampling of each
#: classifier's search space (nested: chosen on inner CV of training rows only).
SEARCHES: tuple[str, ...] = ("grid", "random")
#: Which patients the repeated CV uses: the hold-out training patients only
#: (the test set stays untouched until the hold-out evaluation), or all.
CV_ON: tuple[str, ...] = ("train", "all")
JOINS: tuple[str, ...] = ("strict", "inner")
#: Bootstrap replicates of the hold-out metrics file (intervals only).
DEFAULT_N_BOOT = 200
#: Inner folds of the nested hyper-parameter search.
DEFAULT_INNER_FOLDS = 3
#: Fields that do not change results (scheduling only).
SCHEDULE_FIELDS: tuple[str, ...] = ("chunk", "max_concurrent", "max_trials", "quiet")


@dataclass(frozen=True)
class TuneRunConfig:
    """Everything one sweep needs besides the store contents.

    Args:
        store: Store path or URI.
        preset: Selection preset name (recorded; ``selection`` holds the full config).
        selection: The selection config as a dict (``SelectionConfig.to_dict()``).
        classifiers: Classifier names (registry order kept as given).
        classifier_params: ``{classifier: {param: value}}`` overriding the registry defaults
            in every fit of the sweep (CV, hold-out, centres, post-fusion components), as a
            protocol's ``classifiers.models`` gives them; each name must be in ``classifiers``.
            Not combinable with ``search="random"`` (the search samples those parameters).
        feature_sets: Requested set names (``"all"`` expanded by the inputs step).
        repeats, folds: Repeated stratified K-fold design (20 x 5 in Guo 2024).
        seed: Base seed of splits, selection, classifiers and the search.
        tables: ``((table, version), ...)`` pins; others use the latest version.
        clinical: Path of a clinical CSV/Parquet (else the store's ``clinical`` table).
        cohorts: Restrict every table to these cohorts (empty = all).
        join: "strict" (every set holds the same patients) or "inner" (intersect, announced).
        reader: Reader whose masks feed modelling.
        holdout: Run the 7:3 hold-out protocol.
        test_size: Hold-out test fraction when the tables carry no split column.
        external: Leave-one-centre-out validation: True, False, or None = when >= 2 centres.
        cv_on: "train" (hold-out training patients) or "all" labelled patients.
        search: "grid" (classifier defaults) or "random" (nested random search).
        samples: Random-search candidates.
        inner_folds: Inner folds scoring each candidate.
        fusion_inner_folds: Inner folds of post-fusion stacking.
        fusion_meta_params: Overrides of the post-fusion meta SVM (a protocol's
            ``classifiers.post_fusion.meta_params``); empty: its defaults.
        n_boot: Bootstrap replicates of ``holdout_metrics.json``.
        protocol: ``{"name", "version", "hash"}`` of the study protocol the settings came
            from (``tune --protocol``, ``alnm-ray run``); recorded in run.json, and part of
            the run id when given.
        chunk: Repeats per Tune trial (None = automatic: whole repeats, or chunks of
            folds when there are fewer repeats than wanted trials).
        max_concurrent: Concurrent trials (None = the cluster's CPUs).
        max_trials: Stop after this many trials (the rest on a later run).
        quiet: No progress line.

    Raises:
        ConfigError: On any out-of-range value or unknown option.

    Example:
        >>> cfg = TuneRunConfig(store="s", repeats=2, folds=3, classifiers=("lr",))
        >>> cfg.run_hash({"radiomics": "abc"}) == cfg.replace(chunk=1).run_hash({"radiomics": "abc"})
        True
    """

    store: str
    preset: str = "guo2024"
    selection: dict[str, Any] = field(default_factory=dict)
    classifiers: tuple[str, ...] = CLASSIFIER_NAMES
    classifier_params: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    feature_sets: tuple[str, ...] = ("all",)
    repeats: int = 20
    folds: int = 5
    seed: int = 0
    tables: tuple[tuple[str, str], ...] = ()
    clinical: str | None = None
    cohorts: tuple[str, ...] = ()
    join: str = "strict"
    reader: str = "A"
    holdout: bool = True
    test_size: float = TEST_SIZE
    external: bool | None = None
    cv_on: str = "train"
    search: str = "grid"
    samples: int = 10
    inner_folds: int = DEFAULT_INNER_FOLDS
    fusion_inner_folds: int = 5
    fusion_meta_params: Mapping[str, Any] = field(default_factory=dict)
    n_boot: int = DEFAULT_N_BOOT
    protocol: Mapping[str, Any] = field(default_factory=dict)
    chunk: int | None = None
    max_concurrent: int | None = None
    max_trials: int | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        from alnm_ray.select.pipeline import resolve_config

        for name in ("classifiers", "feature_sets", "cohorts"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        pins = self.tables.items() if isinstance(self.tables, dict) else self.tables
        object.__setattr__(self, "tables", tuple(sorted((str(t), str(v)) for t, v in pins)))
        # The full selection config is stored; an empty dict means "the preset".
        sel = resolve_config(dict(self.selection) if self.selection else self.preset)
        object.__setattr__(self, "selection", sel.to_dict())
        if not self.classifiers:
            raise ConfigError("classifiers: expected at least one classifier (e.g. 'lr'); got none.")
        for name in self.classifiers:
            look_up_option("classifiers", name, CLASSIFIER_NAMES)
        if len(set(self.classifiers)) != len(self.classifiers):
            raise ConfigError(f"classifiers: expected distinct names; got {list(self.classifiers)}.")
        self._check_params()
        if not self.feature_sets:
            raise ConfigError("feature_sets: expected at least one set (e.g. 'radiomics' or 'all'); "
                              "got none.")
        check_range("repeats", self.repeats, 1)
        check_range("folds", self.folds, 2)
        look_up_option("join", self.join, JOINS)
        look_up_option("cv_on", self.cv_on, CV_ON)
        look_up_option("search", self.search, SEARCHES)
        check_range("test_size", self.test_size, 0.0, 1.0, inclusive=False)
        check_range("samples", self.samples, 1)
        check_range("inner_folds", self.inner_folds, 2)
        check_range("fusion_inner_folds", self.fusion_inner_folds, 2)
        check_range("n_boot", self.n_boot, 10)
        if self.chunk is not None:
            check_range("chunk", self.chunk, 1)
        if self.max_concurrent is not None:
            check_range("max_concurrent", self.max_concurrent, 1)
        if self.max_trials is not None:
            check_range("max_trials", self.max_trials, 0)
        if self.cv_on == "train" and not self.holdout:
            # Without a hold-out there is no test set to protect: CV uses everyone.
            object.__setattr__(self, "cv_on", "all")

    def _check_params(self) -> None:
        from alnm_ray.model.classifiers import make_classifier

        params = {str(k): dict(v or {}) for k, v in dict(self.classifier_params or {}).items()}
        # ``{"svm": {}}`` means the defaults, the same run as no entry.
        object.__setattr__(self, "classifier_params", {k: params[k] for k in sorted(params) if params[k]})
        object.__setattr__(self, "fusion_meta_params", dict(self.fusion_meta_params or {}))
        object.__setattr__(self, "protocol", dict(self.protocol or {}))
        extra = sorted(set(params) - set(self.classifiers))
        if extra:
            raise ConfigError(f"classifier_params: parameters for {extra}; expected parameters only for the "
                              f"sweep's classifiers ({', '.join(self.classifiers)}), so none is silently "
                              "unused. Add the classifier to classifiers, or drop its parameters.")
        if self.search == "random" and self.classifier_params:
            raise ConfigError(f"classifier_params: fixed parameters {params} with search='random'; expected "
                              "one of the two (the random search samples those parameters itself). Use "
                              "search='grid' to run the given parameters, or drop them to search.")
        for name, values in params.items():
            make_classifier(name, self.seed, **values)  # unknown parameter names fail here, before any work
        if self.fusion_meta_params:
            make_classifier("svm", self.seed, **self.fusion_meta_params)

    def classifier_map(self) -> dict[str, dict[str, Any]]:
        """``{classifier: params}`` in ``classifiers`` order (empty params: registry defaults)."""
        return {name: dict(self.classifier_params.get(name, {})) for name in self.classifiers}

    def replace(self, **changes: Any) -> "TuneRunConfig":
        """A copy with some fields changed (validated again)."""
        known = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            from alnm_ray._validation import did_you_mean

            raise ConfigError(f"TuneRunConfig: unknown field(s) {unknown}; expected one of "
                              f"{sorted(known)}.{did_you_mean(unknown[0], known)}")
        return dataclasses.replace(self, **changes)

    def selection_config(self):  # -> SelectionConfig
        """The :class:`~alnm_ray.select.config.SelectionConfig` of this sweep."""
        from alnm_ray.select.config import SelectionConfig

        return SelectionConfig.from_dict(dict(self.selection))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict."""
        out = dataclasses.asdict(self)
        out["tables"] = {t: v for t, v in self.tables}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}

    def to_yaml(self) -> str:
        """YAML text; :meth:`from_dict` of its parse gives an equal config."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TuneRunConfig":
        """Build from a mapping (e.g. parsed YAML).

        Raises:
            ConfigError: On unknown keys or bad values.
        """
        data = dict(data)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"tune config: unknown key(s) {unknown}; expected a subset of "
                              f"{sorted(known)}.")
        return cls(**data)

    def content(self) -> dict[str, Any]:
        """The fields that determine results (no store location, no scheduling)."""
        out = self.to_dict()
        for name in SCHEDULE_FIELDS + ("store", "tables", "clinical"):
            out.pop(name, None)
        # Absent when empty, so the run ids of sweeps with registry defaults stay what they were.
        for name in ("classifier_params", "fusion_meta_params", "protocol"):
            if not out.get(name):
                out.pop(name, None)
        return out

    def run_hash(self, table_versions: Mapping[str, str | None]) -> str:
        """The run id: content hash of :meth:`content` and the input table versions.

        Args:
            table_versions: ``{table: version id}`` actually read (clinical included).

        Returns:
            64 hex digits (also the version id of the ``cv_results`` and
            ``oof_predictions`` tables this run writes).
        """
        from alnm_ray.store import content_hash

        return content_hash({"config": self.content(), "inputs": dict(sorted(table_versions.items())),
                             "kind": "alnm-ray tune"})
