"""Planning a cohort before any image: arms, centres, labels, splits, second readers.

Labels are cheap (:func:`~alnm_ray.synth.patient.patient_outcome` draws no
image), so the whole design is fixed up front: who belongs to which arm and
centre, the stratified train/holdout split of the development arm, and the
random subset the second readers outline (from the pool the paper used).
For ``guo2024`` this reproduces the original generator's choices exactly.
"""

from __future__ import annotations

import numpy as np

from alnm_ray.synth._fields import sigmoid
from alnm_ray.synth._rng import CohortStream, cohort_rng
from alnm_ray.synth.config import SynthConfig
from alnm_ray.synth.patient import PatientPlan, patient_outcome
from alnm_ray.synth.studies import Arm, arm_sizes


def stratified_split(labels: np.ndarray, test_fraction: float, seed: int,
                     names: tuple[str, str] = ("train", "test")) -> np.ndarray:
    """``names[0]``/``names[1]`` per patient, ``round(test_fraction * n_class)`` of each class in the second.

    Written here rather than with scikit-learn's ``train_test_split`` because that
    refuses classes with fewer than two members, which tiny cohorts have.

    Example:
        >>> s = stratified_split(np.array([1] * 117 + [0] * 153), 0.3, seed=0)
        >>> int((s == "test").sum())  # 35 + 46, like the paper's 189 / 81
        81
    """
    rng = cohort_rng(seed, CohortStream.SPLIT)
    split = np.full(len(labels), names[0], dtype=object)
    for cls in (0, 1):
        idx = np.flatnonzero(np.asarray(labels) == cls)
        n_test = int(np.floor(test_fraction * len(idx) + 0.5))
        split[rng.permutation(idx)[:n_test]] = names[1]
    return split


def arm_prevalence(config: SynthConfig, arm: Arm) -> float:
    """The arm's expected prevalence: the paper's arm-to-study log-odds difference around ``config.prevalence``.

    With ``signal = 0`` every arm gets ``config.prevalence``: otherwise the
    arm (hence the centre, visible through scanner effects) would predict the label.

    Example:
        >>> cfg = SynthConfig(patients=60, like="zhang2025")
        >>> round(arm_prevalence(cfg, cfg.shape.arms[2]), 3)  # the prospective set: 54 / 107
        0.505
    """
    shape = config.shape
    prevalence = float(config.prevalence)  # type: ignore[arg-type]  # resolved by SynthConfig
    if arm.prevalence == shape.prevalence or config.signal == 0.0:
        return prevalence

    def logit(p: float) -> float:
        return float(np.log(p / (1.0 - p)))

    shifted = float(sigmoid(logit(prevalence) + logit(arm.prevalence) - logit(shape.prevalence)))
    return float(np.clip(shifted, 0.02, 0.98))


def _centres(arm: Arm, n: int, n_centers: int, rng: np.random.Generator) -> list[int]:
    """Centre index of each of the arm's ``n`` patients (numbered centre by centre)."""
    if arm.centers == "first":
        return [0] * n
    ids = list(range(n_centers)) if arm.centers == "all" else list(range(1, n_centers))
    c = min(len(ids), n)
    # After one patient each, the rest spread with weights 1/sqrt(k + 1): the first centre largest.
    weights = 1.0 / np.sqrt(np.arange(1, c + 1))
    counts = np.ones(c, dtype=int) + rng.multinomial(n - c, weights / weights.sum())
    return [ids[k] for k in range(c) for _ in range(int(counts[k]))]


def plan_cohort(config: SynthConfig) -> list[PatientPlan]:
    """Ids, arms, centres, splits and second-reader membership of every patient (deterministic).

    Example:
        >>> plans = plan_cohort(SynthConfig(patients=40, like="gu2025", seed=1))
        >>> sorted({(p.center, p.split) for p in plans})
        [(0, 'train'), (0, 'validation'), (1, 'external')]
    """
    shape = config.shape
    n = int(config.patients)  # type: ignore[arg-type]
    sizes = arm_sizes(shape, n) if len(shape.arms) > 1 else [n]
    assign = cohort_rng(config.seed, CohortStream.ASSIGNMENT)
    arm_of, centre_of, prevalence_of = [], [], []
    for arm, size in zip(shape.arms, sizes):
        arm_of += [arm] * size
        centre_of += _centres(arm, size, int(config.centers), assign)  # type: ignore[arg-type]
        prevalence_of += [arm_prevalence(config, arm)] * size
    labels = np.array([patient_outcome(config, i, prevalence_of[i])[2] for i in range(n)])
    split = np.empty(n, dtype=object)
    development = np.flatnonzero([a.split is None for a in arm_of])
    split[development] = stratified_split(labels[development], float(config.test_fraction),  # type: ignore[arg-type]
                                          config.seed, ("train", shape.holdout_split))
    for i in range(n):
        if arm_of[i].split is not None:
            split[i] = arm_of[i].split
    if shape.second_reader_pool == "train":
        pool = [int(i) for i in development if split[i] == "train"]
    elif shape.second_reader_pool == "development":
        pool = [int(i) for i in development]
    else:
        pool = list(range(n))
    rng = cohort_rng(config.seed, CohortStream.REPEAT_READERS)
    chosen = rng.choice(len(pool), size=min(config.n_repeat, len(pool)), replace=False)
    repeat = {pool[int(k)] for k in chosen}
    return [PatientPlan(i, f"P{i + 1:0{config.id_width}d}", centre_of[i], i in repeat,
                        cohort=config.cohort + arm_of[i].cohort_suffix, split=str(split[i]),
                        arm=arm_of[i].name, prevalence=prevalence_of[i]) for i in range(n)]


__all__ = ["arm_prevalence", "plan_cohort", "stratified_split"]
