"""Selection configuration (frozen, validated, YAML-serialisable, hashable) and presets.

Order of the steps built from a config (:func:`alnm_ray.select.pipeline.build_selection_pipeline`):

``[encode] -> [icc] -> [combat] -> [smote] -> [zscore] -> steps...``

``encode`` is added for tables with categorical or missing values (clinical);
``icc`` only when the feature set holds radiomics columns; ``combat``
(``harmonize="combat"``, off in every preset: none of the papers harmonised)
before SMOTE, whose synthetic rows have no centre, and before the z-score; ``steps`` is the
ordered tuple of post-scaling selectors, optionally overridden per feature kind
by ``kind_steps`` (e.g. Gu 2025: LASSO for radiomics, boosting importance for
deep features).

Presets (values not stated in the papers are marked *assumed*):

* ``guo2024`` -- ICC(3,1) > 0.9 (two-way consistency: "a bidirectional
  consistency model"; pairs A-B and A-A2) -> SMOTE k=5 -> z-score ->
  univariate p < 0.05 -> Spearman |rho| > 0.9 (random drop) -> mRMR top 20
  (*assumed*: the paper gives no K) -> LASSO 20 x 10-fold CV, lambda at min MSE.
* ``liu2025`` (§2.6) -- no ICC (the study had one reader), no SMOTE, z-score ->
  differential analysis p < 0.05 (t-test / Mann-Whitney U after Shapiro-Wilk;
  chi-squared / Fisher for categorical columns) -> correlation |r| > 0.75
  ("Pearson or Spearman": both filters run, Spearman first, *assumed*) ->
  LASSO one 5-fold CV, lambda at min MSE.
* ``gu2025`` -- ICC >= 0.75 between readers A and B only (the study had no
  repeat delineation; ICC(2,1) *assumed*, the form is not stated), z-score;
  radiomics: t-test p < 0.05 -> Pearson |r| > 0.9 -> LASSO 10-fold (one
  repeat, *assumed*); deep: gradient-boosting importance with k chosen from
  the inner-CV performance curve (max mean AUC); clinical: univariate p < 0.05.
* ``zhang2025`` -- ICC(2,1) > 0.8 (*assumed* form), z-score, mutual-information
  relevance/redundancy (top 20, NMI > 0.5 redundant, *assumed*), L1-penalised logistic
  LASSO 10-fold, lambda at minimum CV deviance (``lasso_logistic``: the scores are
  log-odds Rad-scores, *assumed*; the supplement holds the details).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from alnm_ray import constants as C
from alnm_ray._validation import check_range, did_you_mean, look_up_option
from alnm_ray.exceptions import ConfigError
from alnm_ray.select.base import EMPTY_POLICIES
from alnm_ray.select.combat import UNSEEN_POLICIES
from alnm_ray.select.columns import KINDS
from alnm_ray.select.correlation import CORRELATION_METHODS, DROP_RULES
from alnm_ray.select.differential import QUANTITATIVE_TESTS
from alnm_ray.select.icc import ICC_KINDS
from alnm_ray.select.importance import CURVE_FOLDS, CURVE_MAX_K, CURVE_RULES, K_CURVE, check_k
from alnm_ray.select.smote import SMOTE_FALLBACKS
from alnm_ray.select.univariate import LEVENE_CENTERS

#: Post-scaling selection steps, by name.
STEPS: tuple[str, ...] = ("univariate", "differential", "correlation", "mrmr", "mutual_info",
                          "importance", "cnn1d", "lasso", "lasso_logistic")

#: Harmonisation methods of the ``harmonize`` field (None: no harmonisation).
HARMONIZERS: tuple[str, ...] = ("combat",)
#: Feature kinds ComBat adjusts by default: image features carry the scanner/centre effect;
#: clinical variables (age, size, grade) are patient properties, not acquisition artefacts.
COMBAT_DEFAULT_KINDS: tuple[str, ...] = ("radiomics", "deep")

#: Guo 2024 thresholds (named once; see the module docstring for sources).
GUO_ICC_THRESHOLD = 0.9
GUO_SMOTE_K = 5
GUO_P_VALUE = 0.05
GUO_SPEARMAN = 0.9
#: Not stated in the paper; 20 keeps LASSO's input near n/10 for 189 training patients.
DEFAULT_MRMR_K = 20
GUO_LASSO_REPEATS = 20
GUO_LASSO_FOLDS = 10
#: Liu 2025 §2.6: differential p < 0.05, correlation > 0.75, LASSO 5-fold.
LIU_P_VALUE = 0.05
LIU_CORRELATION = 0.75
LIU_LASSO_FOLDS = 5
#: Gu 2025: ICC >= 0.75, t-test p < 0.05, Pearson > 0.9, LASSO 10-fold.
GU_ICC_THRESHOLD = 0.75
GU_PEARSON = 0.9
GU_LASSO_FOLDS = 10


@dataclass(frozen=True)
class SelectionConfig:
    """Parameters of the in-fold feature-selection pipeline.

    Args:
        name: Label recorded with results ("guo2024", "custom" ...).
        icc_threshold: ICC cut-off, or None to skip the reproducibility filter.
        icc_kind: "ICC2" (two-way random, absolute agreement, ICC(2,1)),
            "ICC3" (two-way mixed, consistency, ICC(3,1)) or "ICC1".
        icc_inclusive: Keep ICC >= threshold (True) or > threshold (False).
        icc_pairs: Readers compared with reader A ("B" inter-, "A2" intra-reader);
            ``("B",)`` needs no repeat delineation.
        icc_min_patients: Fewest training patients per pair to estimate the ICC.
        smote: Oversample the minority class inside the training fold.
        smote_k: SMOTE neighbours.
        smote_fallback: "reduce_k" or "skip" when the minority has <= k rows.
        harmonize: None (default, every preset) or "combat": remove centre
            effects with :class:`~alnm_ray.select.combat.ComBatHarmonizer`,
            learned on the training fold (the engines need each patient's centre).
        combat_parametric: Parametric (True) or non-parametric empirical Bayes.
        combat_mean_only: Remove the additive centre effect only.
        combat_eb: Shrink centre effects by empirical Bayes (False: raw estimates).
        combat_covariates: Numeric clinical variables whose effect ComBat keeps
            (never the label); the engines take their values as ``covariates``.
        combat_kinds: Feature kinds harmonised (default radiomics and deep).
        combat_unseen: "refuse", "reference" or "none" for centres absent from
            the training rows (recorded with the results either way).
        combat_reference: The centre whose parameters unseen centres get
            (``combat_unseen="reference"``).
        zscore: Standardise with training mean/SD (constant features dropped).
        steps: Ordered post-scaling steps (names in :data:`STEPS`).
        kind_steps: Per feature kind overrides of ``steps``:
            ``(("deep", ("importance",)), ...)``.
        univariate_alpha, normality_alpha, variance_alpha, levene_center:
            See :class:`~alnm_ray.select.univariate.UnivariateFilter`
            (``normality_alpha`` also serves the differential step's "auto" rule).
        differential_alpha: p-value threshold of the differential step.
        differential_test: "auto" (Shapiro-Wilk -> t-test / Mann-Whitney U) or
            "ttest" (t-test for every quantitative feature).
        differential_categorical: Columns (or clinical variable names) tested
            as categorical (chi-squared / Fisher).
        differential_max_levels: Columns with at most this many distinct
            training values are categorical too.
            See :class:`~alnm_ray.select.differential.DifferentialFilter`.
        correlation_methods: One redundancy filter per method, in order.
        correlation_threshold: |rho| above which a pair is redundant.
        correlation_drop: "random" (seeded, the paper) or "mean".
        mrmr_k: Features kept by mRMR.
        lasso_repeats, lasso_folds, lasso_n_alphas: LASSO CV design (both ``lasso``,
            squared error, and ``lasso_logistic``, L1-penalised logistic regression).
        importance_k: Features kept by gradient-boosting importance, or
            "curve" to choose k by inner CV on the training rows.
        importance_curve_max_k, importance_curve_folds, importance_curve_rule:
            The curve's k range (1..max), inner folds and rule ("max" or "1se");
            see :class:`~alnm_ray.select.importance.ImportanceSelector`.
        cnn1d_epochs: Training epochs of the 1-D CNN feature step.
        cnn1d_noise_std: Gaussian-noise augmentation SD of that step (0 = none).
        mi_k, mi_redundancy: Mutual-information selector size and NMI cut-off.
        empty_policy: "best", "passthrough" or "raise" when a step removes all.
        empty_keep: Features kept by the "best" policy.
        seed: Base seed; the CV engine derives per-fold seeds from it.

    Raises:
        ConfigError: On any out-of-range value or unknown option.

    Example:
        >>> cfg = SelectionConfig.preset("guo2024").replace(lasso_repeats=2)
        >>> cfg.lasso_repeats, cfg.icc_threshold
        (2, 0.9)
    """

    name: str = "custom"
    icc_threshold: float | None = GUO_ICC_THRESHOLD
    icc_kind: str = "ICC2"
    icc_inclusive: bool = False
    icc_pairs: tuple[str, ...] = (C.READER_B, C.READER_A2)
    icc_min_patients: int = 5
    smote: bool = True
    smote_k: int = GUO_SMOTE_K
    smote_fallback: str = "reduce_k"
    harmonize: str | None = None
    combat_parametric: bool = True
    combat_mean_only: bool = False
    combat_eb: bool = True
    combat_covariates: tuple[str, ...] = ()
    combat_kinds: tuple[str, ...] = COMBAT_DEFAULT_KINDS
    combat_unseen: str = "refuse"
    combat_reference: str | None = None
    zscore: bool = True
    steps: tuple[str, ...] = ("univariate", "correlation", "mrmr", "lasso")
    kind_steps: tuple[tuple[str, tuple[str, ...]], ...] = field(default_factory=tuple)
    univariate_alpha: float = GUO_P_VALUE
    normality_alpha: float = 0.05
    variance_alpha: float = 0.05
    levene_center: str = "median"
    differential_alpha: float = LIU_P_VALUE
    differential_test: str = "auto"
    differential_categorical: tuple[str, ...] = ()
    differential_max_levels: int = 2
    correlation_methods: tuple[str, ...] = ("spearman",)
    correlation_threshold: float = GUO_SPEARMAN
    correlation_drop: str = "random"
    mrmr_k: int = DEFAULT_MRMR_K
    lasso_repeats: int = GUO_LASSO_REPEATS
    lasso_folds: int = GUO_LASSO_FOLDS
    lasso_n_alphas: int = 100
    importance_k: int | str = 20
    importance_curve_max_k: int = CURVE_MAX_K
    importance_curve_folds: int = CURVE_FOLDS
    importance_curve_rule: str = "max"
    cnn1d_epochs: int = 10
    cnn1d_noise_std: float = 0.0
    mi_k: int = 20
    mi_redundancy: float = 0.5
    empty_policy: str = "best"
    empty_keep: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        # Lists from YAML become tuples so the config stays hashable.
        for name in ("icc_pairs", "steps", "correlation_methods", "differential_categorical",
                     "combat_covariates", "combat_kinds"):
            object.__setattr__(self, name, tuple(str(v) for v in getattr(self, name)))
        pairs = self.kind_steps.items() if isinstance(self.kind_steps, dict) else self.kind_steps
        object.__setattr__(self, "kind_steps", tuple(sorted(
            (str(k), tuple(str(s) for s in v)) for k, v in pairs)))
        if self.icc_threshold is not None:
            check_range("icc_threshold", self.icc_threshold, 0.0, 1.0)
        look_up_option("icc_kind", self.icc_kind, ICC_KINDS)
        check_range("icc_min_patients", self.icc_min_patients, 2)
        check_range("smote_k", self.smote_k, 1)
        look_up_option("smote_fallback", self.smote_fallback, SMOTE_FALLBACKS)
        self._check_harmonize()
        for s in self.steps:
            look_up_option("steps", s, STEPS)
        for kind, steps in self.kind_steps:
            look_up_option("kind_steps kind", kind, KINDS)
            for s in steps:
                look_up_option(f"kind_steps[{kind}]", s, STEPS)
        check_range("univariate_alpha", self.univariate_alpha, 0.0, 1.0, inclusive=False)
        check_range("normality_alpha", self.normality_alpha, 0.0, 1.0)
        check_range("variance_alpha", self.variance_alpha, 0.0, 1.0)
        look_up_option("levene_center", self.levene_center, LEVENE_CENTERS)
        check_range("differential_alpha", self.differential_alpha, 0.0, 1.0, inclusive=False)
        look_up_option("differential_test", self.differential_test, QUANTITATIVE_TESTS)
        check_range("differential_max_levels", self.differential_max_levels, 1)
        for m in self.correlation_methods:
            look_up_option("correlation_methods", m, CORRELATION_METHODS)
        check_range("correlation_threshold", self.correlation_threshold, 0.0, 1.0)
        look_up_option("correlation_drop", self.correlation_drop, DROP_RULES)
        check_k("importance_k", self.importance_k)
        for name in ("mrmr_k", "lasso_repeats", "mi_k", "empty_keep", "importance_curve_max_k",
                     "cnn1d_epochs"):
            check_range(name, getattr(self, name), 1)
        check_range("importance_curve_folds", self.importance_curve_folds, 2)
        look_up_option("importance_curve_rule", self.importance_curve_rule, CURVE_RULES)
        check_range("cnn1d_noise_std", self.cnn1d_noise_std, 0.0)
        check_range("lasso_folds", self.lasso_folds, 2)
        check_range("lasso_n_alphas", self.lasso_n_alphas, 2)
        check_range("mi_redundancy", self.mi_redundancy, 0.0, 1.0)
        look_up_option("empty_policy", self.empty_policy, EMPTY_POLICIES)

    def _check_harmonize(self) -> None:
        if self.harmonize is not None:
            look_up_option("harmonize", self.harmonize, HARMONIZERS)
        for k in self.combat_kinds:
            look_up_option("combat_kinds", k, KINDS)
        if not self.combat_kinds:
            raise ConfigError("combat_kinds: expected at least one feature kind (radiomics, deep, "
                              "clinical); got none. Leave the default or set harmonize: null.")
        look_up_option("combat_unseen", self.combat_unseen, UNSEEN_POLICIES)
        if self.combat_reference is not None:
            object.__setattr__(self, "combat_reference", str(self.combat_reference))
        if self.combat_unseen == "reference" and self.combat_reference is None:
            raise ConfigError(
                "combat_reference: expected the centre whose parameters unseen centres get "
                "(combat_unseen='reference'); got None. Name a centre present in every training "
                "set, or set combat_unseen to 'refuse' or 'none'.")
        if C.COL_LABEL in self.combat_covariates:
            raise ConfigError(
                f"combat_covariates: {C.COL_LABEL!r} is the outcome; expected biological "
                "covariates known for new patients (e.g. age). Remove it: preserving the label "
                "would leak it into the harmonised features.")

    # -- construction -------------------------------------------------------
    @classmethod
    def preset(cls, name: str) -> "SelectionConfig":
        """A named preset ("guo2024", "liu2025", "gu2025", "zhang2025")."""
        return PRESETS[look_up_option("selection preset", name, PRESETS)]

    def replace(self, **changes: Any) -> "SelectionConfig":
        """A copy with some fields changed (validated again)."""
        unknown = sorted(set(changes) - {f.name for f in dataclasses.fields(self)})
        if unknown:
            raise ConfigError(f"SelectionConfig: unknown field(s) {unknown}; expected names of "
                              f"SelectionConfig fields.{did_you_mean(unknown[0], self.to_dict())}")
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SelectionConfig":
        """Build from a mapping (e.g. parsed YAML); ``preset: guo2024`` starts from a preset.

        Raises:
            ConfigError: On unknown keys (with a suggestion) or bad values.
        """
        data = dict(data)
        base = cls.preset(data.pop("preset")) if "preset" in data else cls()
        return base.replace(**data)

    @classmethod
    def from_yaml(cls, text: str) -> "SelectionConfig":
        """Parse YAML text (see :meth:`from_dict`)."""
        import yaml

        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"selection YAML: expected a mapping of fields; got {type(data).__name__}.")
        return cls.from_dict(data)

    # -- serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain JSON/YAML-able dict (tuples become lists)."""
        out = dataclasses.asdict(self)
        out["kind_steps"] = {k: list(v) for k, v in self.kind_steps}
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in out.items()}

    def to_yaml(self) -> str:
        """YAML text that :meth:`from_yaml` reads back to an equal config."""
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=True)

    def config_hash(self) -> str:
        """Stable 16-hex-digit SHA-256 of the canonical JSON (the ``name`` is excluded).

        With ``harmonize`` off the ``combat_*`` fields have no effect and are left
        out, so configs without harmonisation keep the hashes they had before it existed.
        """
        payload = self.to_dict()
        payload.pop("name")
        if self.harmonize is None:
            for key in [k for k in payload if k == "harmonize" or k.startswith("combat_")]:
                payload.pop(key)
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def steps_for(self, kind: str) -> tuple[str, ...]:
        """Post-scaling steps applied to columns of ``kind``."""
        return dict(self.kind_steps).get(kind, self.steps)


PRESETS: dict[str, SelectionConfig] = {
    "guo2024": SelectionConfig(name="guo2024", icc_kind="ICC3"),
    "liu2025": SelectionConfig(
        name="liu2025", icc_threshold=None, smote=False,
        steps=("differential", "correlation", "lasso"), differential_alpha=LIU_P_VALUE,
        differential_test="auto", correlation_methods=("spearman", "pearson"),
        correlation_threshold=LIU_CORRELATION, lasso_repeats=1, lasso_folds=LIU_LASSO_FOLDS),
    "gu2025": SelectionConfig(
        name="gu2025", icc_threshold=GU_ICC_THRESHOLD, icc_kind="ICC2", icc_inclusive=True,
        icc_pairs=(C.READER_B,), smote=False, steps=("differential", "correlation", "lasso"),
        differential_test="ttest", correlation_methods=("pearson",),
        correlation_threshold=GU_PEARSON,
        kind_steps=(("deep", ("importance",)), ("clinical", ("univariate",))),
        importance_k=K_CURVE, lasso_repeats=1, lasso_folds=GU_LASSO_FOLDS),
    "zhang2025": SelectionConfig(
        name="zhang2025", icc_threshold=0.8, smote=False, steps=("mutual_info", "lasso_logistic"),
        lasso_repeats=1, lasso_folds=10),
}
