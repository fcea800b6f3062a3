"""Study shapes: synthetic cohorts laid out like each published study (``synth --like``).

A :class:`StudyShape` fixes what a study's data look like: the sequences, which
second-reader roles outline a subset (and from which patients), the centres
and the split design (as :class:`Arm` groups of patients), and the clinical
variables with their links to the label.  The latent risk, the label and the
``signal`` knob are the same for every shape (:mod:`alnm_ray.synth.latent`).

==========  ============================  =========  ===========================================
shape       sequences                     readers    splits (cohort values)
==========  ============================  =========  ===========================================
guo2024     MG_CC/MLO, T2WI, DWI, ADC,    A; B, A2   train/test 7:3 over all centres
            DCE_P2                        (30 pts)
liu2025     MG_CC, MG_MLO                 A          train/validation 7:3 + an earlier-period
                                                     ``test`` cohort (``<cohort>_test``), 1 centre
gu2025      DCE_P1                        A; B       centre 1 train/validation 7:3, centre 2
                                          (~10 %)    ``external``
zhang2025   US_TUMOR, US_LN               A; B, A2   hospital 1 train/test 8:2, hospitals 2–6
                                          (train)    ``external``, hospital 1 ``prospective``
                                                     (``<cohort>_prospective``) with reader calls
==========  ============================  =========  ===========================================

Example:
    >>> shape = look_up_study("liu2025")
    >>> shape.sequences, shape.second_readers, [a.split or "train/validation" for a in shape.arms]
    (('MG_CC', 'MG_MLO'), (), ['train/validation', 'test'])
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alnm_ray._validation import look_up_option
from alnm_ray.constants import READER_A2, READER_B
from alnm_ray.synth._fields import sigmoid
from alnm_ray.synth.clinical import CLINICAL_COLUMNS
from alnm_ray.synth.variables import Variable

#: Arm centre choices: every centre, the first (development hospital) only, or all but the first.
ARM_CENTERS: tuple[str, ...] = ("all", "first", "rest")


@dataclass(frozen=True)
class Arm:
    """One group of a study's patients with one role in the design.

    Args:
        name: Role, e.g. ``"development"``, ``"temporal"``, ``"external"``, ``"prospective"``.
        share: Fraction of all patients (from the paper's counts).
        centers: ``"all"``, ``"first"`` or ``"rest"`` (see :data:`ARM_CENTERS`).
        split: Fixed ``split`` value, or ``None`` for the study's stratified
            train/holdout split (the development arm).
        cohort_suffix: Appended to the cohort name for a separately collected
            cohort (``"_test"`` → ``synth_test``); empty keeps the name.
        prevalence: The paper's ALNM prevalence in this arm.
    """

    name: str
    share: float
    centers: str
    split: str | None
    cohort_suffix: str
    prevalence: float


@dataclass(frozen=True)
class StudyShape:
    """How one published study's data look (see the module docstring).

    Args:
        name: ``--like`` name.
        citation: The paper.
        sequences: Sequences written per patient, in manifest order.
        second_readers: Reader roles that also outline a subset (``B``, ``A2``).
        second_reader_share: Subset size as a fraction of all patients (at least
            :attr:`min_second_readers`); ``None`` means the fixed Guo 2024 count (30).
        second_reader_pool: ``"all"``, ``"development"`` (arm) or ``"train"`` (split).
        min_second_readers: Smallest default subset.
        arms: Groups of patients (the first is the development arm).
        holdout_split: Name of the development arm's held-out part.
        holdout_fraction: Fraction of each class held out (7:3 → 0.3).
        default_centers: Centres when ``--centers`` is not given.
        fixed_centers: Whether the design allows only ``default_centers``.
        prevalence: The paper's overall ALNM prevalence.
        variables: Clinical variables; empty uses Guo 2024's table
            (:mod:`alnm_ray.synth.clinical`).
        derive: Fills derived columns (BMI, subtype, …) from the drawn ones.
        reader_calls: Whether two simulated radiologists read the prospective arm
            without and with model assistance.
        notes: Assumptions where the paper is silent.
    """

    name: str
    citation: str
    sequences: tuple[str, ...]
    second_readers: tuple[str, ...]
    second_reader_share: float | None
    second_reader_pool: str
    arms: tuple[Arm, ...]
    holdout_split: str
    holdout_fraction: float
    default_centers: int
    fixed_centers: bool
    prevalence: float
    min_second_readers: int = 8
    variables: tuple[Variable, ...] = ()
    derive: Callable[[dict[str, Any], np.random.Generator], dict[str, Any]] | None = None
    reader_calls: bool = False
    notes: tuple[str, ...] = field(default=())

    @property
    def clinical_columns(self) -> tuple[str, ...]:
        """Columns of ``clinical.csv`` after ``patient_id``, ``cohort``, ``center``."""
        if not self.variables:
            return CLINICAL_COLUMNS
        names = [v.name for v in self.variables] + list(_DERIVED.get(self.name, ()))
        if self.reader_calls:
            names += list(READER_CALL_COLUMNS)
        return tuple(names)

    @property
    def splits(self) -> tuple[str, ...]:
        """Every ``split`` value the design writes, in design order."""
        fixed = [a.split for a in self.arms if a.split is not None]
        return tuple(dict.fromkeys(["train", self.holdout_split, *fixed]))

    def describe(self) -> dict[str, Any]:
        """JSON-able summary of the design (for ``cohort.json``)."""
        return {"like": self.name, "citation": self.citation, "sequences": list(self.sequences),
                "second_readers": list(self.second_readers), "second_reader_pool": self.second_reader_pool,
                "splits": list(self.splits), "holdout": {"split": self.holdout_split,
                                                         "fraction": self.holdout_fraction},
                "arms": [{"name": a.name, "share": a.share, "centers": a.centers, "split": a.split,
                          "cohort_suffix": a.cohort_suffix, "paper_prevalence": a.prevalence}
                         for a in self.arms],
                "notes": list(self.notes)}


#: Columns of the simulated reader study (Zhang 2025, prospective arm only; 1 = ALNM called).
READER_CALL_COLUMNS: tuple[str, ...] = ("reader1_call", "reader1_call_assisted", "reader2_call",
                                        "reader2_call_assisted")


def _binary(name: str, levels: tuple[str, str], p_second: float, **kw: Any) -> Variable:
    return Variable(name, levels=levels, marginal=(round(1.0 - p_second, 6), p_second), **kw)


def _receptors(*, er: float, pr: float, her2: float, ki67: float, ki67_levels: tuple[str, str],
               source: str, odds: dict[str, float] | None = None) -> tuple[Variable, ...]:
    odds = odds or {}
    neg_pos = ("Negative", "Positive")
    return (_binary("er", neg_pos, er, odds_ratio=odds.get("er", 1.0), source=source),
            _binary("pr", neg_pos, pr, odds_ratio=odds.get("pr", 1.0), source=source),
            _binary("her2", neg_pos, her2, odds_ratio=odds.get("her2", 1.0), source=source),
            _binary("ki67", ki67_levels, ki67, odds_ratio=odds.get("ki67", 1.0), source=source))


def molecular_subtype(er: str, pr: str, her2: str, ki67_high: bool) -> str:
    """St Gallen surrogate subtype from receptor statuses and Ki-67 (high/low).

    Example:
        >>> molecular_subtype("Positive", "Positive", "Negative", ki67_high=False)
        'Luminal A'
    """
    if er == "Negative" and pr == "Negative":
        return "HER2-enriched" if her2 == "Positive" else "Triple-negative"
    if her2 == "Negative" and pr == "Positive" and not ki67_high:
        return "Luminal A"
    return "Luminal B"


# --- Liu 2025: MG only, one hospital, earlier-period test cohort ---------------------------
_LIU_SOURCE = "Liu 2025 Table 1 (pooled 290 + 82)"
_LIU_VARIABLES: tuple[Variable, ...] = (
    Variable("age", mean=55.0, sd=12.0, low=25, high=90, source=_LIU_SOURCE + "; no association"),
    Variable("diameter_cm", measured_on="MG_CC", digits=2,
             source="reader A's MG_CC outline (max diameter, cm); follows the size trait"),
    Variable("weight_kg", mean=62.0, sd=9.0, low=38, high=110, source=_LIU_SOURCE),
    Variable("height_m", mean=1.605, sd=0.05, low=1.45, high=1.80, digits=2, source=_LIU_SOURCE),
    Variable("nlr", mean=1.95, sd=0.7, low=0.4, high=8.0, digits=2, source=_LIU_SOURCE + "; no association"),
    _binary("glandular_type", ("Non-dense", "Dense"), 0.48, source=_LIU_SOURCE),
    _binary("mass_density", ("Equal density", "High density"), 0.42, source=_LIU_SOURCE),
    _binary("shape", ("Round or oval", "Irregular"), 0.77, driver="irregularity", loading=0.5,
            source=_LIU_SOURCE + "; associated in training (p = 0.02)"),
    _binary("margin", ("Non-spiculated", "Spiculated"), 0.45, driver="irregularity", loading=0.85,
            source=_LIU_SOURCE + "; strongest association (spiculated in SLN+, as in the test set)"),
    _binary("calcifications", ("Absent", "Present"), 0.38, driver="heterogeneity", loading=0.4,
            source=_LIU_SOURCE + "; weak association (p = 0.04 in training)"),
    _binary("mg_reported_ln", ("Negative", "Positive"), 0.28, odds_ratio=5.3,
            source=_LIU_SOURCE + "; 57 % vs 20 % positive (OR ~5.3)"),
    *_receptors(er=0.82, pr=0.73, her2=0.19, ki67=0.47, ki67_levels=("<30%", ">=30%"),
                source=_LIU_SOURCE + "; no association"),
    Variable("histological_grade", levels=("I", "II", "III"), marginal=(0.10, 0.54, 0.36),
             source=_LIU_SOURCE + "; no association"),
)


def _derive_liu(values: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    return {"bmi": round(values["weight_kg"] / values["height_m"] ** 2, 1)}


# --- Gu 2025: DCE-MRI phase 1, two hospitals ------------------------------------------------
_GU_SOURCE = "Gu 2025 Table 1 (marginals) and Table 2 (univariate odds ratios)"
_GU_VARIABLES: tuple[Variable, ...] = (
    Variable("age", mean=54.0, sd=10.5, low=25, high=90, source=_GU_SOURCE + "; OR 1.01, none"),
    Variable("max_diameter_cm", measured_on="DCE_P1", digits=2,
             source="reader A's DCE_P1 outline (max 3-D diameter, cm); OR 2.7 per cm in the paper"),
    Variable("volume_cm3", measured_on="DCE_P1", measure="volume_cm3", digits=2,
             source="reader A's DCE_P1 outline (cm³)"),
    *_receptors(er=0.78, pr=0.67, her2=0.21, ki67=0.84, ki67_levels=("<20%", ">=20%"), source=_GU_SOURCE,
                odds={"er": 0.60, "pr": 0.41, "her2": 2.66, "ki67": 5.64}),
)


def _derive_gu(values: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    # Menopause: logistic in age around 50 years (assumed); gives ~60 % postmenopausal (paper: 59 %).
    post = rng.random() < float(sigmoid((values["age"] - 50.0) / 3.0))
    return {"menopausal_status": "Postmenopausal" if post else "Premenopausal",
            "molecular_subtype": molecular_subtype(values["er"], values["pr"], values["her2"],
                                                   values["ki67"] == ">=20%")}


# --- Zhang 2025: ultrasound tumour + lymph node, six hospitals, prospective set ------------
_ZHANG_SOURCE = "Zhang 2025 Table 1 (training set) and Table 2 (univariate odds ratios)"
_ZHANG_VARIABLES: tuple[Variable, ...] = (
    Variable("age", mean=54.0, sd=10.6, low=25, high=90, source=_ZHANG_SOURCE + "; OR 0.99, none"),
    Variable("tumor_size_cm", measured_on="US_TUMOR", digits=2,
             source="reader A's US_TUMOR outline (max diameter, cm); OR 1.75 per cm in the paper"),
    _binary("tumor_location", ("Right", "Left"), 0.54, source=_ZHANG_SOURCE),
    _binary("orientation", ("Parallel", "Nonparallel"), 0.13, source=_ZHANG_SOURCE + "; none"),
    _binary("margin", ("Well-circumscribed", "Non-circumscribed"), 0.81, driver="irregularity",
            loading=0.8, source=_ZHANG_SOURCE + "; OR 2.9"),
    _binary("shape", ("Oval or round", "Irregular"), 0.97, driver="irregularity", loading=0.4,
            source=_ZHANG_SOURCE + "; OR 2.2, n.s."),
    _binary("echotexture", ("Hypoechoic", "Heterogeneous"), 0.17, driver="heterogeneity", loading=0.5,
            source=_ZHANG_SOURCE + "; n.s."),
    _binary("microcalcification", ("Absent", "Present"), 0.59, driver="heterogeneity", loading=0.5,
            source=_ZHANG_SOURCE + "; OR 1.6 (p = 0.02); bright foci in the US_TUMOR image"),
    Variable("posterior_features", levels=("Absent", "Shadowing", "Enhancement"), marginal=(0.49, 0.40, 0.11),
             source=_ZHANG_SOURCE + "; n.s.; shapes the US_TUMOR image below the lesion"),
    Variable("vascularity", levels=("Adler 0", "Adler 1", "Adler 2", "Adler 3"),
             marginal=(0.12, 0.50, 0.26, 0.12), source=_ZHANG_SOURCE + "; n.s."),
    _binary("us_reported_alnm", ("Absent", "Present"), 0.58, driver="node", loading=0.8,
            source=_ZHANG_SOURCE + "; OR 5.9; read from the US_LN node's appearance"),
    Variable("us_birads", levels=("4A", "4B", "4C", "5"), marginal=(0.15, 0.25, 0.30, 0.30),
             driver="irregularity", loading=0.6, source="assumed (not in the paper's Table 1)"),
    *_receptors(er=0.66, pr=0.63, her2=0.34, ki67=0.70, ki67_levels=("<20%", ">=20%"),
                source=_ZHANG_SOURCE + "; not tested"),
    _binary("histologic_type", ("Non-special type", "Others"), 0.04, source=_ZHANG_SOURCE),
)


def _derive_zhang(values: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    return {"molecular_type": molecular_subtype(values["er"], values["pr"], values["her2"],
                                                values["ki67"] == ">=20%")}


#: Columns added by each study's ``derive``, in order.
_DERIVED: dict[str, tuple[str, ...]] = {"liu2025": ("bmi",), "gu2025": ("menopausal_status", "molecular_subtype"),
                                        "zhang2025": ("molecular_type",)}

STUDIES: dict[str, StudyShape] = {
    "guo2024": StudyShape(
        name="guo2024", citation="Guo et al., Front. Immunol. 2024 (MG + multiparametric MRI)",
        sequences=("MG_CC", "MG_MLO", "T2WI", "DWI", "ADC", "DCE_P2"),
        second_readers=(READER_B, READER_A2), second_reader_share=None, second_reader_pool="all",
        arms=(Arm("development", 1.0, "all", None, "", 0.433),),
        holdout_split="test", holdout_fraction=0.3, default_centers=2, fixed_centers=False, prevalence=0.433),
    "liu2025": StudyShape(
        name="liu2025", citation="Liu et al., Front. Oncol. 2025 (MG radiomics + deep learning)",
        sequences=("MG_CC", "MG_MLO"), second_readers=(), second_reader_share=None, second_reader_pool="all",
        arms=(Arm("development", 290 / 372, "first", None, "", 80 / 290),
              Arm("temporal", 82 / 372, "first", "test", "_test", 23 / 82)),
        holdout_split="validation", holdout_fraction=0.3, default_centers=1, fixed_centers=True,
        prevalence=103 / 372, variables=_LIU_VARIABLES, derive=_derive_liu,
        notes=("Table 1 prints 'spiculated' as rarer in SLN+ in training but commoner in the test set; "
               "spiculated follows the irregularity trait (commoner in SLN+).",
               "The test cohort (2014-2016) comes from the same hospital and scanner.")),
    "gu2025": StudyShape(
        name="gu2025", citation="Gu et al., Gland Surg. 2025 (DCE-MRI deep learning, two hospitals)",
        sequences=("DCE_P1",), second_readers=(READER_B,), second_reader_share=50 / 520,
        second_reader_pool="development",
        arms=(Arm("development", 411 / 520, "first", None, "", 160 / 411),
              Arm("external", 109 / 520, "rest", "external", "", 41 / 109)),
        holdout_split="validation", holdout_fraction=0.3, default_centers=2, fixed_centers=True,
        prevalence=201 / 520, variables=_GU_VARIABLES, derive=_derive_gu,
        notes=("Only the first post-contrast phase is analysed in the paper, so only DCE_P1 is written.",
               "Hospital 1's two scanners (1.5 T and 3 T) are one synthetic scanner profile.")),
    "zhang2025": StudyShape(
        name="zhang2025", citation="Zhang et al., 2025 (US tumour + lymph-node deep learning radiomics)",
        sequences=("US_TUMOR", "US_LN"), second_readers=(READER_B, READER_A2), second_reader_share=50 / 856,
        second_reader_pool="train",
        arms=(Arm("development", 527 / 856, "first", None, "", 344 / 527),
              Arm("external", 222 / 856, "rest", "external", "", 123 / 222),
              Arm("prospective", 107 / 856, "first", "prospective", "_prospective", 54 / 107)),
        holdout_split="test", holdout_fraction=0.2, default_centers=6, fixed_centers=False,
        prevalence=521 / 856, variables=_ZHANG_VARIABLES, derive=_derive_zhang, reader_calls=True,
        notes=("The lymph node's involvement correlates 0.85 with the latent risk; tumour and node images "
               "are the largest section through the phantom lesion and node.",
               "us_birads is assumed (the paper's Table 1 has none).")),
}


def look_up_study(name: str) -> StudyShape:
    """The :class:`StudyShape` called ``name``.

    Raises:
        ConfigError: When no shape has that name; the message lists the shapes
            and suggests the closest one.
    """
    return STUDIES[look_up_option("like (--like)", name, STUDIES)]




def arm_sizes(shape: StudyShape, patients: int) -> list[int]:
    """Patients per arm: the paper's shares of ``patients``, at least one each; the first takes the rest.

    Example:
        >>> arm_sizes(STUDIES["zhang2025"], 100)
        [61, 26, 13]
    """
    rest = [max(1, int(np.floor(a.share * patients + 0.5))) for a in shape.arms[1:]]
    return [patients - sum(rest), *rest]


__all__ = ["ARM_CENTERS", "READER_CALL_COLUMNS", "STUDIES", "Arm", "StudyShape", "arm_sizes", "look_up_study",
           "molecular_subtype"]
