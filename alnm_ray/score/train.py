"""Fit the chosen pipeline on all training patients and write a bundle.

The training data come from the feature store (the exact table versions are
recorded), the selection pipeline is the one the sweep used
(:func:`alnm_ray.model.fitting.fit_selection`) and the classifier is fitted on
its output exactly as the CV engine does, so a bundle reproduces the sweep's
model.  The decision threshold is Youden's J on the training predictions (the
hold-out engine's rule) unless ``cv-youden`` (out-of-fold predictions) or a
number is asked for.  The bundle is signed with an Ed25519 key
(:mod:`alnm_ray.score.signing`); without one, training refuses to start unless
``unsigned`` is asked for explicitly.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import check_range, look_up_option
from alnm_ray.exceptions import ConfigError, SchemaMismatchError
from alnm_ray.model.cohort import Cohort, read_cohort
from alnm_ray.model.feature_spec import FeatureSetSpec
from alnm_ray.score.bundle import METADATA_FILE, write_bundle
from alnm_ray.score.drift import TrainingDistribution
from alnm_ray.score.frozen import FrozenModel

logger = logging.getLogger(__name__)

#: Threshold rules besides a fixed number.
THRESHOLD_RULES: tuple[str, ...] = ("youden", "cv-youden")
#: Folds of the out-of-fold predictions behind ``cv-youden`` (the paper's CV uses 5).
DEFAULT_CV_FOLDS = 5
#: Training rows handed to the save-time round-trip check of the serialised model.
PROBE_ROWS = 32


@dataclass(frozen=True)
class TrainConfig:
    """What to fit.  Frozen and validated at construction.

    Args:
        feature_set: Feature set name (``radiomics``, ``deep``, ``combined``,
            ``clinical``, ``clinical+radiomics`` …; see
            :mod:`alnm_ray.model.feature_sets`).
        classifier: Classifier registry name (``lr``, ``svm`` …).
        classifier_params: Overrides of the classifier's defaults.
        selection: Selection preset name or config dict (``{"preset": …, **changes}``).
        seed: Seed of selection and classifier.
        tables: ``{table: version id or prefix}``; tables not named use their latest version.
        reader: Reader whose delineations feed the model.
        split: Use patients whose ``split`` is this value (``None``: every labelled patient).
            Ignored when the tables have no ``split`` column.
        cohorts: Restrict training to these cohorts (empty: all).
        threshold: ``"youden"``, ``"cv-youden"`` or a probability in [0, 1].
        cv_folds: Folds for ``cv-youden``.
        run: The tune run folder the configuration came from (recorded only).
        protocol: ``{"name", "version", "hash"}`` of the study protocol the settings came from
            (``train --protocol``, ``alnm-ray run``; recorded in the bundle's metadata).
    """

    feature_set: str
    classifier: str
    classifier_params: Mapping[str, Any] = field(default_factory=dict)
    selection: Any = "guo2024"
    seed: int = 0
    tables: Mapping[str, str] = field(default_factory=dict)
    reader: str = C.PRIMARY_READER
    split: str | None = "train"
    cohorts: tuple[str, ...] = ()
    threshold: str | float = "youden"
    cv_folds: int = DEFAULT_CV_FOLDS
    run: str | None = None
    protocol: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from alnm_ray.model.classifiers import CLASSIFIERS

        look_up_option("classifier", self.classifier, CLASSIFIERS)
        if not str(self.feature_set).strip():
            raise ConfigError("feature_set: expected a name like 'radiomics' or 'combined'; got ''.")
        if FeatureSetSpec.parse(self.feature_set).is_fusion:
            raise ConfigError(f"feature_set: {self.feature_set!r} is a post-fusion set; expected a "
                              "pre-fusion set (radiomics, deep, combined, clinical+…). Bundle each "
                              "modality's model separately.")
        object.__setattr__(self, "cohorts", tuple(str(c) for c in self.cohorts))
        object.__setattr__(self, "classifier_params", dict(self.classifier_params))
        object.__setattr__(self, "protocol", dict(self.protocol or {}))
        object.__setattr__(self, "tables", {str(k): str(v) for k, v in dict(self.tables).items()})
        if isinstance(self.threshold, str):
            try:
                object.__setattr__(self, "threshold", float(self.threshold))
            except ValueError:
                look_up_option("threshold", self.threshold, THRESHOLD_RULES)
        if not isinstance(self.threshold, str):
            check_range("threshold", float(self.threshold), 0.0, 1.0)
        check_range("cv_folds", int(self.cv_folds), 2)
        look_up_option("reader", self.reader, C.READERS)

    def selection_config(self):  # -> SelectionConfig
        """The resolved :class:`~alnm_ray.select.SelectionConfig`."""
        from alnm_ray.select.pipeline import resolve_config

        return resolve_config(self.selection)


@dataclass(frozen=True)
class TrainResult:
    """What :func:`train_bundle` wrote."""

    bundle_id: str
    path: str
    n_patients: int
    n_positive: int
    features: int
    selected: list[str]
    threshold: float
    train_auc: float
    model_format: str
    seconds: float
    signer: str | None = None


def _strip_training_rows(pipeline: Any) -> None:
    """Drop parameters that hold training rows (the ICC reader table) from fitted steps.

    They are needed to fit, never to transform; keeping them would copy
    training patients' features into the bundle.
    """
    keys = [k for k in pipeline.get_params(deep=True) if k.endswith("reader_table")]
    if keys:
        pipeline.set_params(**{k: None for k in keys})


def _training_rows(cohort: Cohort, config: TrainConfig) -> tuple[pd.Index, pd.Series]:
    y = cohort.require_labels()
    ids = y.index[y.notna()]
    if config.split is not None:
        if cohort.splits is not None:
            ids = ids.intersection(cohort.splits.index[cohort.splits.astype("string") == config.split])
        else:
            logger.info("no split column in the tables: every labelled patient is a training patient")
    dropped = int(y.isna().sum())
    if dropped:
        logger.info("%d patient(s) without a label left out of training", dropped)
    if len(ids) == 0:
        raise SchemaMismatchError(
            f"training patients: expected labelled patients with split={config.split!r}; found none. "
            "Pass --split '' to use every labelled patient, or check the manifest's split/label columns.")
    return ids, y.loc[ids].astype(int)


def used_inputs(pipeline: Any, inputs: Sequence[str], selected: Sequence[str]) -> tuple[list[str], list[str]]:
    """Input columns the fitted pipeline depends on, and those it imputes itself.

    Args:
        pipeline: The fitted selection pipeline.
        inputs: Its input columns.
        selected: Its output columns (what the classifier sees).

    Returns:
        ``(used, imputed)``: ``used`` are inputs kept as they are or one-hot
        encoded (``"grade"`` for ``"grade=3"``), in input order; ``imputed`` are
        inputs the pipeline's clinical encoder fills when missing (all inputs
        when the pipeline starts with an encoder, else none).

    Example:
        >>> used_inputs(None, ["age", "grade", "T2WI__f"], ["age", "grade=3"])
        (['age', 'grade'], [])
    """
    chosen = set(selected)
    encoded = {s.split("=", 1)[0] for s in selected if "=" in s}
    used = [f for f in inputs if f in chosen or f in encoded]
    has_encoder = any(name == "encode" for name, _ in getattr(pipeline, "steps", []))
    return used, (list(inputs) if has_encoder else [])


def _harmonization(cohort: Cohort, X: pd.DataFrame, sel_config: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(metadata of fit_selection, bundle metadata["harmonization"])``; both empty without ComBat.

    Raises:
        ConfigError: ComBat is configured with covariates (new patients would need them too:
            not supported in bundles), or the tables have no centre column.
        SchemaMismatchError: A training patient has no centre.
    """
    from alnm_ray.model.inputs import prepare_metadata

    if sel_config.harmonize is None:
        return {}, {}
    if sel_config.combat_covariates:
        raise ConfigError(
            f"selection: combat_covariates={list(sel_config.combat_covariates)}: a bundle would need "
            "them for every new patient, which scoring does not read; expected none for `alnm-ray "
            "train`. Set combat_covariates: [] in the --selection YAML (CV and tune support them).")
    if cohort.centers is None:
        raise ConfigError("selection: harmonize='combat' needs each patient's centre; no table has a "
                          f"{C.COL_CENTER!r} column. Add centres to the manifest, or set harmonize: null.")
    meta = prepare_metadata(sel_config, X.index, cohort.centers.reindex(X.index))
    record = {"method": sel_config.harmonize, "batch_column": C.COL_CENTER,
              "centers": sorted(set(meta["batch"])), "unseen": sel_config.combat_unseen,
              "reference": sel_config.combat_reference}
    return meta, record


def _threshold(config: TrainConfig, X: pd.DataFrame, y: np.ndarray, p_train: np.ndarray,
               sel_config: Any, reader_table: Any, metadata: Any = None) -> tuple[float, str]:
    from alnm_ray.model.fitting import fit_predict, fit_selection
    from alnm_ray.model.metrics import youden_threshold

    if not isinstance(config.threshold, str):
        return float(config.threshold), "fixed"
    if config.threshold == "youden":
        return youden_threshold(y, p_train), "youden on training predictions"
    from sklearn.model_selection import StratifiedKFold

    oof = np.full(len(y), np.nan)
    folds = StratifiedKFold(n_splits=config.cv_folds, shuffle=True, random_state=config.seed)
    for tr, te in folds.split(X, y):
        sel = fit_selection(X.iloc[tr], y[tr], sel_config, reader_table=reader_table, seed=config.seed,
                            metadata=metadata)
        (p_te,) = fit_predict(config.classifier, config.classifier_params, config.seed,
                              sel.X_train, sel.y_train, sel.X_train, [sel.transform(X.iloc[te])]).p_eval
        oof[te] = p_te
    return youden_threshold(y, oof), f"youden on {config.cv_folds}-fold out-of-fold predictions"


def train_bundle(store: Any, config: TrainConfig, out: str, *, overwrite: bool = False,
                 signing_key: Any = None, unsigned: bool = False, explain_background: int = 100) -> TrainResult:
    """Fit ``config``'s pipeline on the training patients in ``store`` and write a signed bundle to ``out``.

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        config: What to fit.
        out: Bundle folder to create.
        overwrite: Replace an existing bundle at ``out``.
        signing_key: Ed25519 private key or its PEM file (default ``$ALNM_RAY_SIGNING_KEY``).
        unsigned: Write no signature (exclusive with ``signing_key``).
        explain_background: Training rows stored for SHAP (:mod:`alnm_ray.score.explain`; 0: none).

    Returns:
        A :class:`TrainResult`.

    Raises:
        StoreError: A table or version does not exist.
        SchemaMismatchError: No training patients, or the tables do not fit the feature set.
        ConfigError: Bad options, ``out`` exists, the model cannot be serialised
            safely, or no signing key (checked before anything is fitted).
    """
    from sklearn.metrics import roc_auc_score

    from alnm_ray.model.fitting import fit_predict, fit_selection
    from alnm_ray.model.feature_sets import assemble_feature_set
    from alnm_ray.score.signing import key_fingerprint, resolve_signing_key
    from alnm_ray.store import FeatureStore

    start = time.monotonic()
    signer_key = resolve_signing_key(signing_key, unsigned=unsigned)  # fail before a long fit, not after
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    sel_config = config.selection_config()
    cohort = read_cohort(store, config.feature_set, pins=config.tables, cohorts=config.cohorts,
                         reader=config.reader)
    ids, y_series = _training_rows(cohort, config)
    # Features that do not apply (NaN for every training patient: a 2-D shape class on a 3-D
    # sequence, a filter the ROI was too small for) carry no information; assembling the
    # training patients' rows drops them, and they are not inputs.
    X = assemble_feature_set(config.feature_set, {t: w.loc[w.index.intersection(ids)]
                                                  for t, w in cohort.tables.items()})
    excluded = list(X.attrs.get("dropped_empty", []))
    if X.shape[1] == 0:
        raise SchemaMismatchError(f"feature set {config.feature_set!r}: every feature is missing for every "
                                  "training patient; expected at least one value. Check the extraction errors.")
    y = y_series.loc[X.index].to_numpy(int)
    if len(np.unique(y)) < 2:
        raise SchemaMismatchError(f"training labels: expected both classes (0 and 1); found only {y[0]} "
                                  f"in {len(y)} patient(s). Check the cohort and split selection.")
    counts = np.bincount(y, minlength=2)
    if sel_config.smote and counts.min() < 2:
        raise SchemaMismatchError(
            f"training labels: SMOTE (smote_k={sel_config.smote_k}) needs at least 2 patients of the minority "
            f"class to interpolate between; found {counts.min()} with label {int(np.argmin(counts))} among "
            f"{len(y)} patient(s). Add patients of that class, or set `smote: false` in the --selection YAML.")
    logger.info("training %s/%s on %d patients (%d positive), %d features", config.feature_set,
                config.classifier, len(y), int(y.sum()), X.shape[1])
    reader_table = cohort.reader_table  # already restricted to the cohorts
    harm_meta, harmonization = _harmonization(cohort, X, sel_config)
    selection = fit_selection(X, y, sel_config, reader_table=reader_table, seed=config.seed,
                              metadata=harm_meta)
    for text in selection.fallbacks:  # e.g. SMOTE's k reduced for a small minority class: the user should know
        logger.warning("%s", text)
    fitted = fit_predict(config.classifier, config.classifier_params, config.seed,
                         selection.X_train, selection.y_train, selection.transform(X), [])
    clf, p_train, warn_texts = fitted.model, fitted.p_train, list(fitted.warning_texts)
    threshold, rule = _threshold(config, X, y, p_train, sel_config, reader_table, harm_meta)
    _strip_training_rows(selection.pipeline)
    batch_column = harmonization.get("batch_column")
    model = FrozenModel(selection.pipeline, clf, list(X.columns), batch_column=batch_column).fit()
    # The model's input rows: the features, plus each patient's centre when it harmonises.
    X_in = X.assign(**{batch_column: harm_meta["batch"].to_numpy()}) if batch_column else X
    used, imputed = used_inputs(selection.pipeline, list(X.columns), selection.selected)
    numeric_used = [f for f in used if pd.api.types.is_numeric_dtype(X[f])]
    summary = TrainingDistribution().fit(X, numeric_used)
    cohorts, centers = ([] if s is None else sorted({str(v) for v in s.loc[X.index].dropna()})
                        for s in (cohort.cohort_names, cohort.centers))
    infos = cohort.versions
    deep_params = infos[C.TABLE_DEEP].params if C.TABLE_DEEP in infos else {}
    train_auc = float(roc_auc_score(y, p_train))
    metadata = {
        "feature_set": config.feature_set, "classifier": config.classifier,
        "classifier_params": config.classifier_params,
        "selection": {"name": sel_config.name, "config": sel_config.to_dict()},
        "threshold": float(threshold), "threshold_method": rule,
        "features": list(X.columns), "selected_features": used, "imputed_features": imputed,
        "excluded_features": excluded,
        "classifier_inputs": list(selection.selected),
        "feature_tables": cohort.pins,
        "reader": config.reader, "sequences": sorted({c.split(C.WIDE_SEP)[0] for c in X.columns
                                                      if C.WIDE_SEP in c}),
        "seeds": {"selection": config.seed, "classifier": config.seed},
        "training": {"n_patients": int(len(y)), "n_positive": int(y.sum()), "cohorts": cohorts,
                     "centers": centers, "store": store.uri, "split": config.split,
                     "apparent_auc": train_auc, "selection_fallbacks": selection.fallbacks,
                     "classifier_warnings": warn_texts},
        "run": config.run,
        **({"protocol": dict(config.protocol)} if config.protocol else {}),
        **({"harmonization": harmonization} if harmonization else {}),
        "deep_weights_sha256": deep_params.get("weights_sha256"),
    }
    configs = {t: {"table": t, "version": info.version, "params": info.params, "lineage": info.lineage}
               for t, info in infos.items()}
    configs["selection"] = sel_config.to_dict()
    # The settings a user looks for, as stand-alone files: a PyRadiomics params file PyRadiomics
    # itself reads, the preprocessing plan, the embedding config (weights by checksum).
    for table, key, name in ((C.TABLE_RADIOMICS, "pyradiomics_params", "pyradiomics_params"),
                             (C.TABLE_RADIOMICS, "preprocess", "preprocess"),
                             (C.TABLE_DEEP, "preprocess", "preprocess"), (C.TABLE_DEEP, "embed", "embed")):
        value = infos[table].params.get(key) if table in infos else None
        if isinstance(value, dict) and name not in configs:
            configs[name] = value
    from alnm_ray.standards.dictionary import dictionary_for_columns

    from alnm_ray.score.card import bundle_extras  # SHAP background and model card, signed with the rest

    extras = bundle_extras(model=model, X=X_in, y=y, p_train=p_train, threshold=threshold, metadata=metadata,
                           cohort=cohort, seed=config.seed, background_rows=explain_background)
    bundle_id = write_bundle(out, model=model, metadata=metadata, summary=summary, configs=configs, **extras,
                             probe=X_in.head(PROBE_ROWS), overwrite=overwrite, signing_key=signer_key,
                             unsigned=signer_key is None,
                             feature_dictionary=dictionary_for_columns(store, list(X.columns)))
    fmt = json.loads((Path(out) / METADATA_FILE).read_text(encoding="utf-8"))["model"]["format"]
    from alnm_ray.store.maintenance import pin

    pin(store, [i.ref for i in infos.values()], by=f"bundle {bundle_id}")  # `features vacuum` keeps them
    signer = key_fingerprint(signer_key) if signer_key is not None else None
    return TrainResult(bundle_id, str(out), int(len(y)), int(y.sum()), int(X.shape[1]), used,
                       float(threshold), train_auc, fmt, time.monotonic() - start, signer)
