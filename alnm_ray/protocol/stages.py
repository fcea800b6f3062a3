"""The step-by-step commands under a protocol: ``tune --protocol`` and ``train --protocol``.

A protocol fixes the method: the selection per kind, the classifiers and their
parameters, the feature sets, the CV design and the seed.  These functions turn
it into the configs of the single stages, and :func:`flag_conflicts` lists every
command-line flag that would change one of those values -- such a command is
refused before any work, never run as a mix of the protocol and the flags.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from alnm_ray.exceptions import ConfigError
from alnm_ray.protocol.model import Protocol

#: ``tune`` flags a protocol decides, with the protocol key that decides each.
TUNE_OWNED: dict[str, str] = {
    "--preset": "selection", "--selection": "selection", "--repeats": "cv.repeats", "--folds": "cv.folds",
    "--seed": "cv.seed", "--classifiers": "classifiers.models", "--feature-sets": "feature_sets",
    "--search": "classifiers.models (fixed parameters)", "--samples": "classifiers.models (fixed parameters)",
    "--inner-folds": "classifiers.models (fixed parameters)",
    "--holdout/--no-holdout": "validation (CV on the training split only)",
    "--test-size": "validation.sets", "--external/--no-external": "validation.sets",
    "--cv-on": "validation.training",
}
#: ``train`` flags a protocol decides.
TRAIN_OWNED: dict[str, str] = {
    "--preset": "selection", "--selection": "selection", "--seed": "cv.seed",
    "--param": "classifiers.models", "--reader": "roi.reader", "--split": "validation.training",
}


def protocol_record(p: Protocol) -> dict[str, Any]:
    """What a run or bundle records of the protocol it followed."""
    return {"name": p.name, "version": p.version, "hash": p.hash}


def flag_conflicts(p: Protocol, given: Mapping[str, Any], owned: Mapping[str, str], command: str) -> list[str]:
    """Four-part lines, one per explicitly given flag the protocol decides (sorted).

    Args:
        p: The protocol.
        given: Flag -> the value given on the command line (only flags the user typed).
        owned: Flag -> the protocol key deciding it (:data:`TUNE_OWNED`, :data:`TRAIN_OWNED`).
        command: ``tune`` or ``train`` (for the message).

    Example:
        >>> from alnm_ray.protocol import load_protocol
        >>> flag_conflicts(load_protocol("guo2024"), {"--repeats": 5}, TUNE_OWNED, "tune")[0][:60]
        '--repeats: expected no --repeats with --protocol guo2024 (it'
    """
    lines = []
    for flag in sorted(given):
        if flag not in owned:
            continue
        lines.append(f"{flag}: expected no {flag} with --protocol {p.name} (its {owned[flag]} decides it); got "
                     f"{flag} {given[flag]!s}. Drop {flag}, or change the value in a copy of the protocol "
                     f"(`alnm-ray protocol show {p.name} > mine.yaml`, then `alnm-ray {command} --protocol "
                     "mine.yaml`).")
    return lines


def protocol_tune_config(p: Protocol, store: str, **scheduling: Any):  # -> TuneRunConfig
    """The sweep ``alnm-ray run`` does (CV on the protocol's training split), as a ``TuneRunConfig``.

    Args:
        p: The protocol.
        store: Store path or URI.
        **scheduling: Fields the protocol does not decide (tables, clinical, cohorts, join,
            n_boot, chunk, max_concurrent, max_trials, quiet).

    Raises:
        ConfigError: A field the protocol decides is among ``scheduling``.
    """
    from alnm_ray.tune import TuneRunConfig

    free = {"tables", "clinical", "cohorts", "join", "n_boot", "chunk", "max_concurrent", "max_trials", "quiet"}
    extra = sorted(set(scheduling) - free)
    if extra:
        raise ConfigError(f"protocol_tune_config: field(s) {extra}: expected only fields the protocol does not "
                          f"decide ({', '.join(sorted(free))}); got those too. Change them in a copy of the "
                          "protocol instead.")
    repeats, folds, seed = p.cv()
    return TuneRunConfig(
        store=store, preset=p.name, selection=p.selection_dict(), classifiers=tuple(p.classifiers),
        classifier_params=p.classifiers, fusion_meta_params=p.post_fusion.get("meta_params") or {},
        protocol=protocol_record(p), feature_sets=p.feature_sets, repeats=repeats, folds=folds, seed=seed,
        reader=p.reader, holdout=False, external=False, fusion_inner_folds=p.inner_folds(), **scheduling)


def protocol_train_settings(p: Protocol, feature_set: str, classifier: str) -> dict[str, Any]:
    """:class:`~alnm_ray.score.train.TrainConfig` keyword arguments of one protocol model.

    Raises:
        ConfigError: The feature set or classifier is not one the protocol fits, or the set is a
            post-fusion set (frozen by ``alnm-ray run``, not by ``train``).
    """
    from alnm_ray._validation import did_you_mean

    if feature_set in p.post_sets:
        raise ConfigError(f"--feature-set {feature_set}: expected a pre-fusion set of protocol {p.name} "
                          f"({', '.join(p.pre_sets)}); got its post-fusion set, which is frozen as component "
                          f"bundles plus a signed meta model. Run `alnm-ray run {p.name} …` (its bundle stage "
                          "writes it), or train each component set here.")
    if feature_set not in p.pre_sets:
        raise ConfigError(f"--feature-set {feature_set}: expected one of protocol {p.name}'s feature sets "
                          f"({', '.join(p.pre_sets)}); got {feature_set!r}.{did_you_mean(feature_set, p.pre_sets)}"
                          " Use one of them, or drop --protocol to train another set.")
    if classifier not in p.classifiers:
        names = list(p.classifiers)
        raise ConfigError(f"--classifier {classifier}: expected one of protocol {p.name}'s classifiers "
                          f"({', '.join(names)}); got {classifier!r}.{did_you_mean(classifier, names)} Use one "
                          "of them, or drop --protocol to train another classifier.")
    return {"classifier_params": dict(p.classifiers[classifier]), "selection": p.selection_dict(),
            "seed": p.cv()[2], "reader": p.reader, "split": p.training_split, "protocol": protocol_record(p)}


__all__ = ["TRAIN_OWNED", "TUNE_OWNED", "flag_conflicts", "protocol_record", "protocol_train_settings",
           "protocol_tune_config"]
