"""Build the in-fold selection pipeline (an ``imblearn.pipeline.Pipeline``) from a config.

Every step is learned from the rows passed to ``fit`` only; the pipeline is
meant to be built and fitted anew inside every training fold.  SMOTE is a
sampler: ``imblearn`` applies it in ``fit`` and skips it in ``transform`` and
``predict``, so validation/test rows are never resampled.  Append a classifier
to get a complete model: ``Pipeline(pipe.steps + [("clf", clf)])``.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from imblearn.pipeline import Pipeline
from sklearn.pipeline import Pipeline as SkPipeline

from alnm_ray.exceptions import ConfigError
from alnm_ray.select.cnn1d import CNN1DFeatures
from alnm_ray.select.combat import ComBatHarmonizer
from alnm_ray.select.columns import KIND_RADIOMICS, KINDS
from alnm_ray.select.config import SelectionConfig
from alnm_ray.select.correlation import CorrelationFilter
from alnm_ray.select.differential import DifferentialFilter
from alnm_ray.select.encode import ClinicalEncoder
from alnm_ray.select.icc import ICCFilter
from alnm_ray.select.importance import ImportanceSelector
from alnm_ray.select.lasso import LassoCVSelector
from alnm_ray.select.lasso_logistic import LogisticLassoSelector
from alnm_ray.select.mrmr import MRMRSelector
from alnm_ray.select.mutual_info import MutualInfoSelector
from alnm_ray.select.routing import KindRouter
from alnm_ray.select.scale import ZScoreScaler
from alnm_ray.select.smote import SafeSMOTE
from alnm_ray.select.univariate import UnivariateFilter


def resolve_config(config: SelectionConfig | str | dict | None) -> SelectionConfig:
    """Accept a config, a preset name, a dict (``{"preset": ..., **changes}``) or None (guo2024)."""
    if config is None:
        return SelectionConfig.preset("guo2024")
    if isinstance(config, SelectionConfig):
        return config
    if isinstance(config, str):
        return SelectionConfig.preset(config)
    if isinstance(config, dict):
        return SelectionConfig.from_dict(config)
    raise ConfigError(f"selection config: expected a SelectionConfig, preset name or dict; got "
                      f"{type(config).__name__}.")


def _post_steps(cfg: SelectionConfig, names: tuple[str, ...], seed: int) -> list[tuple[str, Any]]:
    common: dict[str, Any] = {"empty_policy": cfg.empty_policy, "empty_keep": cfg.empty_keep}
    out: list[tuple[str, Any]] = []
    for name in names:
        if name == "univariate":
            out.append((name, UnivariateFilter(
                alpha=cfg.univariate_alpha, normality_alpha=cfg.normality_alpha,
                variance_alpha=cfg.variance_alpha, levene_center=cfg.levene_center, **common)))
        elif name == "differential":
            out.append((name, DifferentialFilter(
                alpha=cfg.differential_alpha, quantitative_test=cfg.differential_test,
                normality_alpha=cfg.normality_alpha, categorical=cfg.differential_categorical,
                max_levels=cfg.differential_max_levels, seed=seed, **common)))
        elif name == "correlation":
            for method in cfg.correlation_methods:
                out.append((f"{method}", CorrelationFilter(
                    threshold=cfg.correlation_threshold, method=method,
                    drop=cfg.correlation_drop, seed=seed, **common)))
        elif name == "mrmr":
            out.append((name, MRMRSelector(k=cfg.mrmr_k, **common)))
        elif name == "mutual_info":
            out.append((name, MutualInfoSelector(k=cfg.mi_k, redundancy_threshold=cfg.mi_redundancy,
                                                 **common)))
        elif name == "importance":
            out.append((name, ImportanceSelector(
                k=cfg.importance_k, curve_max_k=cfg.importance_curve_max_k,
                curve_folds=cfg.importance_curve_folds, curve_rule=cfg.importance_curve_rule,
                seed=seed, **common)))
        elif name == "cnn1d":
            out.append((name, CNN1DFeatures(epochs=cfg.cnn1d_epochs,
                                            noise_std=cfg.cnn1d_noise_std, seed=seed)))
        elif name == "lasso":
            out.append((name, LassoCVSelector(
                n_repeats=cfg.lasso_repeats, n_folds=cfg.lasso_folds,
                n_alphas=cfg.lasso_n_alphas, seed=seed, **common)))
        elif name == "lasso_logistic":
            out.append((name, LogisticLassoSelector(
                n_repeats=cfg.lasso_repeats, n_folds=cfg.lasso_folds,
                n_alphas=cfg.lasso_n_alphas, seed=seed, **common)))
    return out


def build_selection_pipeline(config: SelectionConfig | str | dict | None = "guo2024", *,
                             reader_table: Any = None, kinds: Collection[str] | None = None,
                             encode: bool = False, seed: int | None = None) -> Pipeline:
    """Build an unfitted selection pipeline.

    Args:
        config: A :class:`SelectionConfig`, a preset name or a dict.
        reader_table: Deprecated (bound to the ICC step's constructor): give the
            readers' rows to ``fit`` instead (``pipe.fit(X, y, icc__reader_table=t)``,
            as :func:`alnm_ray.model.fitting.fit_selection` does through metadata
            routing).
        kinds: Feature kinds present in X ("radiomics", "deep", "clinical");
            None = unknown (ICC built; per-kind routes built for all kinds).
        encode: Prepend a :class:`~alnm_ray.select.encode.ClinicalEncoder`
            (categorical or missing clinical values).
        seed: Seed of the stochastic steps (SMOTE, random drop, LASSO shuffles,
            boosting); None = ``config.seed``.

    Returns:
        ``imblearn.pipeline.Pipeline`` whose steps are named "encode", "icc",
        "combat", "smote", "zscore", then the post-scaling steps ("univariate",
        "differential", "spearman"/"pearson", "mrmr", "mutual_info",
        "importance", "cnn1d", "lasso", or "router" for per-kind steps).

    Raises:
        ConfigError: When "cnn1d" runs for more than one kind (their ``cnn_*``
            output columns would clash).

    Example:
        >>> [n for n, _ in build_selection_pipeline("guo2024", kinds={"deep"}).steps]
        ['smote', 'zscore', 'univariate', 'spearman', 'mrmr', 'lasso']
        >>> cfg = {"preset": "guo2024", "harmonize": "combat"}
        >>> [n for n, _ in build_selection_pipeline(cfg, kinds={"deep"}).steps][:3]
        ['combat', 'smote', 'zscore']
    """
    cfg = resolve_config(config)
    seed = cfg.seed if seed is None else int(seed)
    kinds = set(KINDS) if kinds is None else set(kinds)
    steps: list[tuple[str, Any]] = []
    if encode:
        steps.append(("encode", ClinicalEncoder()))
    if cfg.icc_threshold is not None and KIND_RADIOMICS in kinds:
        steps.append(("icc", ICCFilter(
            reader_table, threshold=cfg.icc_threshold, kind=cfg.icc_kind, pairs=cfg.icc_pairs,
            inclusive=cfg.icc_inclusive, min_patients=cfg.icc_min_patients,
            empty_policy=cfg.empty_policy, empty_keep=cfg.empty_keep)))
    if cfg.harmonize == "combat" and kinds & set(cfg.combat_kinds):
        # Before SMOTE (its synthetic rows have no centre) and before the z-score (ComBat
        # models each centre's mean and scale of the raw features).
        steps.append(("combat", ComBatHarmonizer(
            parametric=cfg.combat_parametric, mean_only=cfg.combat_mean_only, eb=cfg.combat_eb,
            covariates=cfg.combat_covariates, kinds=cfg.combat_kinds, unseen=cfg.combat_unseen,
            reference_batch=cfg.combat_reference)))
    if cfg.smote:
        steps.append(("smote", SafeSMOTE(k_neighbors=cfg.smote_k, fallback=cfg.smote_fallback,
                                         seed=seed)))
    if cfg.zscore:
        steps.append(("zscore", ZScoreScaler()))
    routed = {k for k, _ in cfg.kind_steps}
    if not routed or len(kinds) == 1:
        only = next(iter(kinds)) if len(kinds) == 1 else None
        names = cfg.steps_for(only) if only else cfg.steps
        steps += _post_steps(cfg, names, seed)
    else:
        with_cnn = sorted(k for k in kinds if "cnn1d" in cfg.steps_for(k))
        if len(with_cnn) > 1:
            raise ConfigError(
                f"selection {cfg.name!r}: the 'cnn1d' step runs for kinds {with_cnn}; expected at "
                "most one kind, since each outputs columns cnn_00... that would clash. Put "
                "'cnn1d' in kind_steps of a single kind (e.g. kind_steps={'deep': ['cnn1d', "
                "'importance']}) and model other kinds as separate feature sets.")
        routes = tuple(
            (kind, SkPipeline(_post_steps(cfg, cfg.steps_for(kind), seed)) if cfg.steps_for(kind)
             else None) for kind in sorted(kinds))
        default = SkPipeline(_post_steps(cfg, cfg.steps, seed)) if cfg.steps else None
        steps.append(("router", KindRouter(routes=routes, default=default)))
    if not steps:
        raise ConfigError(f"selection {cfg.name!r}: the config builds no step at all; expected "
                          "at least one (e.g. zscore=True or steps=('lasso',)).")
    return Pipeline(steps)
