"""Everything a protocol needs, checked before any work and reported all at once.

:func:`check_protocol` returns one four-part line per problem (which item,
what was expected, what was found, how to fix it):

* **components**: every selection step, classifier, extractor, preprocessing
  option and statistics model the protocol names must exist in this build --
  a protocol is never run with a substitute method;
* **consistency**: the final model and the named comparisons must be among
  the protocol's feature sets and classifiers;
* **ignored values**: nothing the protocol states may be dropped silently --
  a value this build would not use (post-fusion settings without a post-fusion
  set, a selection block no set reads, a seed other than the one used, ...) is
  a problem (:func:`ignored_problems`);
* **data** (when manifests / a clinical table are given): every sequence
  (reader rows for the modelling reader), the readers the ICC needs, every
  ``split`` value of the validation design, labels, and the clinical
  variables the clinical models need.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import capped, did_you_mean
from alnm_ray.protocol.model import KINDS, Protocol

#: Names a comparison's ``sets`` may use besides the validation sets.
TRAINING = "training"


def _steps_available() -> tuple[str, ...]:
    from alnm_ray.select.config import STEPS

    return tuple(STEPS)


def _extractors_available() -> tuple[str, ...]:
    from alnm_ray.embed import extractors

    registry = getattr(extractors, "EXTRACTORS", None)
    return tuple(registry) if registry else ("resnet18_3d",)


def component_problems(p: Protocol) -> list[str]:
    """Steps, classifiers, extractors, preprocessing, params and models missing from this build."""
    from alnm_ray.model.classifiers import CLASSIFIER_NAMES

    problems: list[str] = []
    steps = _steps_available()
    for kind in KINDS:
        block = p.data["selection"].get(kind)
        for step in (block or {}).get("steps", []):
            if step not in steps:
                problems.append(
                    f"selection.{kind}.steps: step {step!r} is not available in this build; expected one "
                    f"of {', '.join(steps)}; found {step!r} in the protocol.{did_you_mean(step, steps)} "
                    "Update alnm-ray to a build that has it; the protocol is not run with another method.")
    try:
        p.selection_config()
    except Exception as exc:  # noqa: BLE001 - every config error becomes a listed problem
        if not any("is not available" in q for q in problems):
            problems.append(f"selection: {exc}")
    names = set(p.classifiers) | set(p.post_fusion_base)
    if p.final_model.get("classifier"):
        names.add(str(p.final_model["classifier"]))
    names |= {clf for comp in p.comparisons for _, clf in comp.models}
    for name in sorted(names):
        if name not in CLASSIFIER_NAMES:
            problems.append(
                f"classifiers: classifier {name!r} is not available in this build; expected one of "
                f"{', '.join(CLASSIFIER_NAMES)}; found {name!r}.{did_you_mean(name, CLASSIFIER_NAMES)} "
                "Update alnm-ray to a build that has it; the protocol is not run with another classifier.")
    if p.uses_deep:
        deep = p.data.get("deep") or {}
        wanted = [deep.get("extractor", "resnet18_3d"), *(deep.get("sequence_extractors") or {}).values()]
        have = _extractors_available()
        for name in dict.fromkeys(wanted):
            if name not in have:
                problems.append(f"deep.extractor: {name!r} is not available in this build; expected one of "
                                f"{', '.join(have)}; found {name!r}. Update alnm-ray.")
        if not any(f"{name!r} is not available" in q for q in problems for name in wanted):
            try:
                p.embed_config()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"deep: {exc}")
    try:
        p.preprocess_plan()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"preprocessing: {exc} (a preprocessing step this build lacks is not replaced by "
                        "another; update alnm-ray or change the protocol copy)")
    try:
        p.extraction_params()
    except Exception as exc:  # noqa: BLE001
        problems.append(f"radiomics.params: {exc}")
    if p.clinical_model is not None:
        try:
            from alnm_ray.stats.logistic import ClinicalLogisticModel  # noqa: F401
        except ImportError as exc:
            problems.append(f"clinical.model: the logistic clinical model is not available in this build "
                            f"({exc}); expected alnm_ray.stats.logistic.ClinicalLogisticModel. Update alnm-ray.")
    return problems


def consistency_problems(p: Protocol) -> list[str]:
    """The final model and the comparisons must name the protocol's own sets and classifiers."""
    problems: list[str] = []
    sets = list(p.feature_sets)
    fm = p.final_model
    if fm["rule"] == "fixed" and not p.data.get("model"):  # a model section names its own final model
        for key in ("feature_set", "classifier"):
            if not fm.get(key):
                problems.append(f"final_model.{key}: expected a value with rule 'fixed'; found none. Name "
                                "the final model's feature set and classifier, or use rule best_cv_auc.")
        if fm.get("feature_set") and fm["feature_set"] not in sets:
            problems.append(f"final_model.feature_set: expected one of the protocol's feature sets "
                            f"({', '.join(sets)}); found {fm['feature_set']!r}."
                            f"{did_you_mean(str(fm['feature_set']), sets)} Fix the name.")
    set_names = [TRAINING] + [vs.name for vs in p.validation_sets]
    for comp in p.comparisons:
        for fs, clf in comp.models:
            if fs not in sets:
                problems.append(f"report.comparisons.{comp.name}: model {fs}/{clf}: expected a feature set "
                                f"of the protocol ({', '.join(sets)}); found {fs!r}.{did_you_mean(fs, sets)} "
                                "Fix the name.")
            clfs = p.post_fusion_base if fs.startswith("post:") else tuple(p.classifiers)
            if clf not in clfs and clf != "logistic":
                problems.append(f"report.comparisons.{comp.name}: model {fs}/{clf}: expected a classifier "
                                f"the protocol fits for that set ({', '.join(clfs)}); found {clf!r}. Fix it.")
        for name in comp.sets:
            if name not in set_names:
                problems.append(f"report.comparisons.{comp.name}.sets: expected one of "
                                f"{', '.join(set_names)}; found {name!r}.{did_you_mean(name, set_names)} "
                                "Fix the name.")
    if p.post_sets and len(set(p.post_sets)) != len(p.post_sets):
        problems.append("feature_sets.post: expected distinct names; found repeats. Remove them.")
    return problems


def ignored_problems(p: Protocol) -> list[str]:
    """Protocol values this build would not use -- each would otherwise be silently dropped.

    A protocol with its own ``model`` section (e.g. zhang2025's score nomogram) is run by its own
    stages and is checked by :func:`alnm_ray.protocol.scores.model_problems` instead.
    """
    if p.data.get("model"):
        return []
    from alnm_ray.exceptions import ConfigError
    from alnm_ray.model.classifiers import CLASSIFIER_NAMES, make_classifier

    problems: list[str] = []
    built = [(f"classifiers.models.{n}", n, v) for n, v in p.classifiers.items() if n in CLASSIFIER_NAMES]
    if p.post_sets and p.post_fusion.get("meta_params"):
        built.append(("classifiers.post_fusion.meta_params", "svm", dict(p.post_fusion["meta_params"])))
    for where, name, params in built:
        try:
            make_classifier(name, 0, **params)
        except ConfigError as exc:
            problems.append(f"{where}: {exc} Fix the parameter names in a copy of the protocol.")
    fix = f"Remove it from a copy of the protocol (`alnm-ray protocol show {p.name} > mine.yaml`)"
    pf = p.post_fusion
    if not p.post_sets:
        for key in sorted(pf):
            problems.append(f"classifiers.post_fusion.{key}: expected post-fusion settings only with "
                            f"feature_sets.post; found {key} = {pf[key]!r} and no post-fusion set, so it would be "
                            f"ignored. {fix}, or add the post-fusion sets.")
    elif pf.get("base") and list(pf["base"]) != list(p.classifiers):
        problems.append(f"classifiers.post_fusion.base: expected the classifiers of classifiers.models "
                        f"({', '.join(p.classifiers)}), because this build fits the post-fusion sets with every "
                        f"classifier of the protocol; found {', '.join(pf['base'])}. Make them equal, or drop base.")
    shared_seed = (p.data["selection"].get("shared") or {}).get("seed")
    if shared_seed is not None and int(shared_seed) != p.cv()[2]:
        problems.append(f"selection.shared.seed: expected the value of cv.seed ({p.cv()[2]}), because this build "
                        f"seeds selection in every fit from cv.seed; found {shared_seed}. Use one seed, or drop "
                        "selection.shared.seed.")
    fm = p.final_model
    if fm["rule"] != "fixed":
        for key in ("feature_set", "classifier"):
            if fm.get(key):
                problems.append(f"final_model.{key}: expected no {key} with rule {fm['rule']!r} (the rule picks "
                                f"the model); found {fm[key]!r}, which would be ignored. Drop it, or use rule "
                                "fixed.")
    if p.data.get("deep") and not p.uses_deep:
        problems.append(f"deep: expected a deep section only when a feature set reads deep features; no set of "
                        f"{', '.join(p.feature_sets)} does, so it would be ignored. {fix}, or add a deep set.")
    used_kinds = {k for k in ("radiomics", "deep", "clinical")
                  if any(k in s or (k != "clinical" and "combined" in s) for s in p.feature_sets)}
    for kind in p.kinds:
        if kind not in used_kinds:
            problems.append(f"selection.{kind}: expected a selection block only for kinds a feature set reads; "
                            f"no set of {', '.join(p.feature_sets)} reads {kind}, so its steps would be ignored. "
                            f"{fix}, or add a {kind} set.")
    if p.clinical_variables and not p.uses_clinical:
        problems.append(f"clinical.variables: expected clinical variables only with a clinical feature set or "
                        f"clinical.model; found {len(p.clinical_variables)} and neither, so they would be "
                        f"ignored. {fix}, or add a clinical set.")
    odds = (p.data.get("report") or {}).get("odds_ratio_table")
    if odds is not None and bool(odds) != (p.clinical_model is not None):
        problems.append(f"report.odds_ratio_table: expected {p.clinical_model is not None} (this build writes "
                        f"the odds-ratio table exactly when the protocol has a clinical.model); found {odds}, "
                        "which would be ignored. Set it to match, or drop it.")
    sets = list(p.feature_sets)
    for fs, clf in p.waterfall:
        clfs = p.post_fusion_base if fs.startswith("post:") else tuple(p.classifiers)
        if fs not in sets or clf not in clfs:
            problems.append(f"report.waterfall: model {fs}/{clf}: expected a model the protocol fits "
                            f"({', '.join(sets)} x {', '.join(clfs)}); found none by that name, so no waterfall "
                            f"would be drawn.{did_you_mean(fs, sets)} Fix the name.")
    return problems


def data_problems(p: Protocol, manifest: pd.DataFrame | None, clinical: pd.DataFrame | None) -> list[str]:
    """What the manifest(s) and clinical table lack for this protocol."""
    problems: list[str] = []
    if manifest is not None:
        seq_col, reader_col = C.COL_SEQUENCE, C.COL_READER
        rows = manifest
        readers = rows[reader_col].astype(str) if reader_col in rows else pd.Series(C.PRIMARY_READER,
                                                                                    index=rows.index)
        have = sorted(set(rows.loc[readers == p.reader, seq_col].astype(str)))
        missing = [s for s in p.sequences if s not in have]
        if missing:
            problems.append(f"manifest: sequence(s) {', '.join(missing)}: expected reader {p.reader}'s rows "
                            f"for every protocol sequence ({', '.join(p.sequences)}); found "
                            f"{', '.join(have) or 'none'}. Add those images, or use a protocol copy "
                            "without them.")
        cfg = p.data["selection"].get("shared") or {}
        if cfg.get("icc_threshold") is not None and p.uses_radiomics:
            for reader in cfg.get("icc_pairs") or ("B", "A2"):
                seqs = sorted(set(rows.loc[readers == reader, seq_col].astype(str)))
                lacking = [s for s in p.sequences if s not in seqs]
                if lacking:
                    problems.append(
                        f"manifest: reader {reader}: the ICC filter (icc_pairs {list(cfg.get('icc_pairs') or ('B', 'A2'))}) "
                        f"expected reader {reader}'s delineations of every sequence; found none for "
                        f"{', '.join(lacking)}. Add the second reader's masks (reader column {reader}), "
                        "or use a protocol copy with selection.shared.icc_threshold: null.")
        if C.COL_SPLIT not in rows:
            problems.append(f"manifest: expected a 'split' column with the values {', '.join(p.splits)} of "
                            "the validation design; found no split column. Add it (train/validation/test/"
                            "external per patient).")
        else:
            found = sorted(set(rows[C.COL_SPLIT].dropna().astype(str)))
            for split in p.splits:
                if split not in found:
                    role = p.role_of(split)
                    problems.append(f"manifest: split {split!r} ({role}): expected patients with this split "
                                    f"value; found only {', '.join(found) or 'none'}."
                                    f"{did_you_mean(split, found)} Fix the manifest's split column or the "
                                    "protocol's validation.sets.")
        if C.COL_LABEL not in rows or rows[C.COL_LABEL].isna().all():
            problems.append("manifest: expected a 'label' column (ALNM 0/1) for training and evaluation; "
                            "found none. Add the labels.")
    if p.uses_clinical and (manifest is not None or clinical is not None):
        variables = list(p.clinical_variables)
        if clinical is None:
            problems.append(f"clinical table: the protocol's clinical models expected a --clinical table with "
                            f"{capped(variables) or 'its variables'}; found none. Pass --clinical CSV.")
        else:
            absent = [v for v in variables if v not in clinical.columns]
            if absent:
                cols = [str(c) for c in clinical.columns]
                problems.append(f"clinical table: variable(s) {capped(absent)}: expected the columns the "
                                f"clinical model needs; found {capped(sorted(cols))}."
                                f"{did_you_mean(absent[0], cols)} Rename the columns, or edit "
                                "clinical.variables in a protocol copy.")
            if manifest is not None and C.COL_PATIENT in clinical:
                ids = set(clinical[C.COL_PATIENT].astype(str))
                lacking = sorted(set(manifest[C.COL_PATIENT].astype(str)) - ids)
                if lacking:
                    problems.append(f"clinical table: expected a row for every manifest patient; "
                                    f"{len(lacking)} are missing ({capped(lacking)}). Add them.")
    return problems


def check_protocol(p: Protocol, manifests: Sequence[pd.DataFrame] = (),
                   clinical: pd.DataFrame | None = None) -> list[str]:
    """Every problem of running ``p`` on these data, as four-part lines (empty: ready).

    Example:
        >>> from alnm_ray.protocol import load_protocol
        >>> check_protocol(load_protocol("guo2024"))
        []
    """
    manifest = pd.concat(list(manifests), ignore_index=True) if manifests else None
    problems = (component_problems(p) + consistency_problems(p) + ignored_problems(p)
                + data_problems(p, manifest, clinical))
    if p.data.get("model"):
        from alnm_ray.protocol.scores import model_problems

        problems += model_problems(p, clinical)
    return problems


def read_inputs(manifests: Sequence[str], clinical: str | None) -> tuple[list[pd.DataFrame], Any]:
    """Read manifest(s) and a clinical table as plain tables (no file checks)."""
    from alnm_ray.manifest.table import read_table

    frames = []
    for path in manifests:
        from alnm_ray.manifest import read_manifest

        frames.append(read_manifest(path, check_files=False))
    return frames, (read_table(clinical, kind="clinical table") if clinical else None)
