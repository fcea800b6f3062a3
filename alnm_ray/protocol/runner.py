"""``alnm-ray run``: a whole study from a protocol, stage by stage, resumable.

Stages, in order (:data:`STAGES`):

1. ``validate`` -- read and validate the manifest(s); :func:`check_protocol` on them and
   the clinical table (every problem listed at once, before any work);
2. ``extract`` -- PyRadiomics with the protocol's preprocessing and params
   (:func:`~alnm_ray.extract.job.run_extraction`; the store's content
   addressing reuses finished cases); preprocessing learned from data
   (``normalize: histogram`` landmarks) is fitted first, on the training
   split's images only, saved as ``RUN/histogram/<sequence>.json`` and reused
   by a re-run (:func:`fitted_plan`);
3. ``embed`` -- deep features with the protocol's extractor per sequence;
4. ``sweep`` -- repeated CV of every feature set x classifier on the training
   set only (:func:`~alnm_ray.tune.run_sweep`, into ``RUN/sweep``);
5. ``evaluate`` -- fit on the training set, score every set of the validation
   design (:mod:`alnm_ray.protocol.evaluate`);
6. ``bundle`` -- the final model (the protocol's rule) as a signed bundle,
   post-fusion included (:mod:`alnm_ray.protocol.fusion_bundle`);
7. ``report`` -- ``RUN/report.html`` following the paper, and the CLEAR/TRIPOD
   checklists.

``RUN/stages.json`` records each finished stage's outputs; a re-run of the
same command skips finished stages and computes only what is missing.  A run
folder holding another protocol, protocol version, input or ``--quick``
setting is refused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alnm_ray import constants as C
from alnm_ray.exceptions import ConfigError
from alnm_ray.protocol.model import QUICK_LIMITS, Protocol

logger = logging.getLogger(__name__)

STAGES: tuple[str, ...] = ("validate", "extract", "embed", "sweep", "evaluate", "bundle", "report")
STAGES_FILE = "stages.json"
PROTOCOL_FILE = "protocol.yaml"
SWEEP_DIR = "sweep"
BUNDLE_DIR = "bundle"
CLINICAL_FILE = "clinical.csv"
HISTOGRAM_DIR = "histogram"


@dataclass(frozen=True)
class RunOptions:
    """How to run a protocol (what the ``run`` command's options say).

    Args:
        manifests: Manifest paths (concatenated).
        store: Feature store path or URI.
        out: Run folder.
        clinical: Clinical table path.
        quick: Fewer CV repeats/folds, one LASSO repeat (recorded as deviations).
        signing_key: Ed25519 key of the bundle (else ``$ALNM_RAY_SIGNING_KEY``).
        unsigned: Write an unsigned bundle.
        overwrite: Replace a run folder that holds another run.
        quiet: No progress lines.
        n_boot: Bootstrap replicates of the sweep's intervals.
    """

    manifests: tuple[str, ...]
    store: str
    out: str
    clinical: str | None = None
    quick: bool = False
    signing_key: str | None = None
    unsigned: bool = False
    overwrite: bool = False
    quiet: bool = False
    n_boot: int = 200


@dataclass
class RunResult:
    """What a run did: per-stage outputs and seconds, and where the report and bundle are."""

    run_dir: Path
    stages: dict[str, dict[str, Any]] = field(default_factory=dict)
    computed: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    seconds: float = 0.0


def deviations(p: Protocol, quick: bool) -> list[dict[str, Any]]:
    """What ``--quick`` changes against the protocol (key, protocol value, value used)."""
    if not quick:
        return []
    out: list[dict[str, Any]] = []
    repeats, folds, _ = p.cv()
    q_repeats, q_folds, _ = p.cv(quick=True)
    if (repeats, folds) != (q_repeats, q_folds):
        out.append({"key": "cv", "protocol": f"{repeats} x {folds}-fold", "used": f"{q_repeats} x {q_folds}-fold"})
    full, quick_sel = p.selection_dict(), p.selection_dict(quick=True)
    for key in ("lasso_repeats", "lasso_folds", "importance_curve_folds"):
        if key in quick_sel and full.get(key) != quick_sel[key]:
            out.append({"key": f"selection.{key}", "protocol": full.get(key, "default"), "used": quick_sel[key]})
    if p.post_sets and p.inner_folds() != p.inner_folds(quick=True):
        out.append({"key": "classifiers.post_fusion.inner_folds", "protocol": p.inner_folds(),
                    "used": p.inner_folds(quick=True)})
    return out


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class RunFolder:
    """``RUN/stages.json``: the run's identity and each finished stage's record."""

    def __init__(self, run_dir: Path, identity: dict[str, Any], overwrite: bool) -> None:
        self.dir = run_dir
        self.path = run_dir / STAGES_FILE
        self.identity = identity
        if self.path.is_file():
            doc = json.loads(self.path.read_text(encoding="utf-8"))
            if doc.get("identity") != identity:
                if not overwrite:
                    diff = sorted(k for k in set(identity) | set(doc.get("identity", {}))
                                  if identity.get(k) != doc.get("identity", {}).get(k))
                    raise ConfigError(
                        f"--out {run_dir}: expected the run folder of this same run to resume; it holds a run "
                        f"with another {', '.join(diff)}. Use a new --out folder, or --overwrite to start over.")
                doc = {"identity": identity, "stages": {}}
        elif run_dir.exists() and any(q.name != "alnm-ray.log" for q in run_dir.iterdir()) and not overwrite:
            names = sorted(p.name for p in run_dir.iterdir())[:5]
            raise ConfigError(f"--out {run_dir}: expected a new or empty folder (or a run folder to resume); "
                              f"found other files ({', '.join(names)}). Choose another --out, or --overwrite.")
        else:
            doc = {"identity": identity, "stages": {}}
        self.doc = doc
        run_dir.mkdir(parents=True, exist_ok=True)

    def done(self, stage: str) -> dict[str, Any] | None:
        return self.doc["stages"].get(stage)

    def finish(self, stage: str, record: dict[str, Any]) -> None:
        self.doc["stages"][stage] = record
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.doc, indent=1, default=str), encoding="utf-8")
        tmp.replace(self.path)

    def forget_from(self, stage: str) -> None:
        """Drop the records of ``stage`` and every later stage (their inputs changed)."""
        for name in STAGES[STAGES.index(stage):]:
            self.doc["stages"].pop(name, None)


def _echo(quiet: bool, text: str) -> None:
    if not quiet:
        import sys

        print(text, file=sys.stderr, flush=True)


def _validate(p: Protocol, opts: RunOptions, run_dir: Path) -> tuple[Any, dict[str, Any]]:
    import pandas as pd

    from alnm_ray.manifest import read_manifest
    from alnm_ray.manifest.table import read_table
    from alnm_ray.protocol.check import check_protocol
    from alnm_ray.protocol.load import ProtocolError

    frames = [read_manifest(m, check_files=True) for m in opts.manifests]
    table = read_table(opts.clinical, kind="clinical table") if opts.clinical else None
    problems = check_protocol(p, frames, table)
    if problems:
        shown = "\n".join(f"  - {q}" for q in problems)
        raise ProtocolError(f"protocol {p.name} v{p.version}: {len(problems)} problem(s) before any work:\n"
                            f"{shown}", problems)
    df = pd.concat(frames, ignore_index=True)
    df = df[df[C.COL_SEQUENCE].astype(str).isin(p.sequences)].reset_index(drop=True)
    record: dict[str, Any] = {"rows": int(len(df)), "patients": int(df[C.COL_PATIENT].nunique()),
                              "splits": df.groupby(C.COL_SPLIT)[C.COL_PATIENT].nunique().to_dict()}
    if table is not None and p.uses_clinical:
        keep = [C.COL_PATIENT] + [v for v in p.clinical_variables if v in table.columns]
        # Labels and splits travel with the clinical rows, so a clinical-only model (and its bundle)
        # reads the same outcome and training split as the imaging tables.
        per_patient = df.drop_duplicates(C.COL_PATIENT).set_index(C.COL_PATIENT)
        meta = [c for c in (C.COL_COHORT, C.COL_CENTER, C.COL_LABEL, C.COL_SPLIT) if c in per_patient]
        out = table[keep].copy()
        out[C.COL_PATIENT] = out[C.COL_PATIENT].astype(str)
        out = out[out[C.COL_PATIENT].isin(per_patient.index.astype(str))]
        for col in meta:
            out[col] = out[C.COL_PATIENT].map(per_patient[col].to_dict())
        path = run_dir / CLINICAL_FILE
        out.to_csv(path, index=False)
        record["clinical"] = str(path)
    return df, record


def _readers(p: Protocol) -> list[str]:
    shared = p.data["selection"].get("shared") or {}
    readers = [p.reader]
    if shared.get("icc_threshold") is not None:
        readers += list(shared.get("icc_pairs") or ("B", "A2"))
    return list(dict.fromkeys(readers))


def fitted_plan(p: Protocol, df: Any, run_dir: Path, say: Callable[[str], None] | None = None):  # -> PreprocessPlan
    """The protocol's preprocessing plan with its learned parts fitted on the training split.

    Sequences with ``normalize: histogram`` get landmarks learned from the
    training split's images only (every reader's rows share the image; masks
    are not used: the whole image after N4 and resampling, voxels above its
    mean), saved in ``RUN/histogram/<sequence>.json`` and reused when they
    exist; validation and external images are mapped with them.  Extraction,
    embedding and the bundle (which records the tables' plan) all see this plan.
    """
    plan = p.preprocess_plan()
    seqs = plan.unfitted(p.sequences)
    if not seqs:
        return plan
    from alnm_ray.preprocess.histogram_fit import fit_plan_histograms

    train = df[df[C.COL_SPLIT].astype(str) == p.training_split]
    images = {s: train.loc[train[C.COL_SEQUENCE].astype(str) == s, C.COL_IMAGE].astype(str).tolist() for s in seqs}
    plan, _ = fit_plan_histograms(plan, images, out_dir=run_dir / HISTOGRAM_DIR, progress=say)
    return plan


def _extract(p: Protocol, df: Any, store: Any, opts: RunOptions, plan: Any = None) -> dict[str, Any]:
    from alnm_ray.extract.job import run_extraction

    rows = df[df[C.COL_READER].astype(str).isin(_readers(p))].reset_index(drop=True)
    plan = plan if plan is not None else p.preprocess_plan()
    report = run_extraction(rows, store, params=p.extraction_params(), plan=plan,
                            lineage={"protocol": p.name, "protocol_hash": p.hash}, quiet=True,
                            show_progress=not opts.quiet)
    if report.failed:
        raise ConfigError(f"extract: {report.failed} case(s) failed; expected every case to extract. "
                          f"{report.failure_summary()} Fix the inputs and re-run the same command.")
    version = report.version.version if report.version is not None else store.resolve(C.TABLE_RADIOMICS).version
    from alnm_ray.standards.dictionary import write_feature_dictionary

    write_feature_dictionary(store)
    return {"table": C.TABLE_RADIOMICS, "version": version, "computed": report.computed, "cached": report.cached}


def _embed(p: Protocol, df: Any, store: Any, opts: RunOptions, plan: Any = None) -> dict[str, Any]:
    import warnings

    from alnm_ray.embed.job import run_embedding

    rows = df[df[C.COL_READER].astype(str) == p.reader].reset_index(drop=True)
    plan = plan if plan is not None else p.preprocess_plan()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # random weights are recorded as an assumption of the protocol
        summary = run_embedding(rows, store, p.embed_config(), plan=plan,
                                lineage={"protocol": p.name, "protocol_hash": p.hash}, quiet=True,
                                show_progress=not opts.quiet)
    if summary.failed:
        raise ConfigError(f"embed: {summary.failed} case(s) failed; expected every case to embed. "
                          f"{summary.failure_summary()} Fix the inputs and re-run the same command.")
    version = summary.version.version if summary.version is not None else store.resolve(C.TABLE_DEEP).version
    return {"table": C.TABLE_DEEP, "version": version, "computed": summary.computed, "cached": summary.cached}


def tune_config(p: Protocol, opts: RunOptions, pins: dict[str, str], clinical: str | None):  # -> TuneRunConfig
    """The sweep's config: the protocol's selection, classifiers, sets and CV (no hold-out, no LOCO)."""
    from alnm_ray.tune import TuneRunConfig

    repeats, folds, seed = p.cv(quick=opts.quick)
    return TuneRunConfig(
        store=opts.store, preset=p.name, selection=p.selection_dict(quick=opts.quick),
        classifiers=tuple(p.classifiers), classifier_params=p.classifiers,
        fusion_meta_params=p.post_fusion.get("meta_params") or {},
        protocol={"name": p.name, "version": p.version, "hash": p.hash},
        feature_sets=p.feature_sets, repeats=repeats, folds=folds,
        seed=seed, tables=tuple(sorted(pins.items())), clinical=clinical, reader=p.reader, holdout=False,
        external=False, fusion_inner_folds=p.inner_folds(quick=opts.quick), n_boot=opts.n_boot,
        quiet=opts.quiet)


def training_inputs(p: Protocol, inputs: Any) -> Any:
    """``inputs`` restricted to the training split (the CV never sees another set)."""
    import dataclasses

    cohort = inputs.cohort
    ids = [str(i) for i in cohort.loc[cohort[C.COL_SPLIT].astype("string") == p.training_split, C.COL_PATIENT]]
    ids = [i for i in ids if i in inputs.y.index]
    if not ids:
        raise ConfigError(f"validation.training: expected patients with split {p.training_split!r}; found "
                          "none among the labelled patients. Fix the manifest's split column.")
    return dataclasses.replace(
        inputs, sets={n: X.loc[ids] for n, X in inputs.sets.items()}, y=inputs.y.loc[ids],
        centers=None if inputs.centers is None else inputs.centers.loc[ids],
        cohort=cohort[cohort[C.COL_PATIENT].astype(str).isin(ids)].reset_index(drop=True))


def final_choice(p: Protocol, summary: Any) -> tuple[str, str]:
    """The final model's (feature set, classifier) by the protocol's rule."""
    fm = p.final_model
    if fm["rule"] == "fixed":
        return str(fm["feature_set"]), str(fm["classifier"])
    best = summary.sort_values("auc_mean", ascending=False).iloc[0]
    return str(best["feature_set"]), str(best["classifier"])


def run_protocol(p: Protocol, opts: RunOptions, *, progress: Callable[[str], None] | None = None) -> RunResult:
    """Run (or resume) a whole study; see the module docstring for the stages.

    Raises:
        ProtocolError: The protocol, manifest or clinical table lacks something (all listed).
        ConfigError: The run folder holds another run; a stage's inputs are unusable.
    """
    import pandas as pd

    from alnm_ray.store import FeatureStore

    from alnm_ray.score.signing import resolve_signing_key

    resolve_signing_key(opts.signing_key, unsigned=opts.unsigned)  # fail before any work, not at the bundle
    start = time.perf_counter()
    say = progress or (lambda text: _echo(opts.quiet, text))
    run_dir = Path(opts.out)
    identity = {"protocol": p.name, "protocol_version": p.version, "protocol_hash": p.hash,
                "quick": opts.quick, "manifests": {m: _sha256(m) for m in opts.manifests},
                "clinical": _sha256(opts.clinical) if opts.clinical else None, "store": str(opts.store)}
    folder = RunFolder(run_dir, identity, opts.overwrite)
    (run_dir / PROTOCOL_FILE).write_text(p.text, encoding="utf-8")
    result = RunResult(run_dir)
    store = FeatureStore(opts.store)

    def stage(name: str, fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        record = folder.done(name)
        if record is not None:
            say(f"[{STAGES.index(name) + 1}/{len(STAGES)}] {name}: done earlier (reused)")
            result.reused.append(name)
            return record
        say(f"[{STAGES.index(name) + 1}/{len(STAGES)}] {name} …")
        t0 = time.perf_counter()
        record = fn()
        record["seconds"] = round(time.perf_counter() - t0, 2)
        folder.finish(name, record)
        result.computed.append(name)
        say(f"[{STAGES.index(name) + 1}/{len(STAGES)}] {name}: done in {record['seconds']:.1f} s")
        return record

    # Validation always runs (cheap, and the manifest frame feeds extract/embed).
    df, validated = _validate(p, opts, run_dir)
    if folder.done("validate") is None:
        validated["seconds"] = 0.0
        folder.finish("validate", validated)
        result.computed.append("validate")
    say(f"[1/{len(STAGES)}] validate: {validated['patients']} patients, {validated['rows']} rows, splits "
        f"{validated['splits']}")
    clinical = validated.get("clinical")
    pins: dict[str, str] = {}
    plans: list[Any] = []  # fitted once, when extract or embed first needs it (reused from RUN/histogram)

    def plan() -> Any:
        if not plans:
            plans.append(fitted_plan(p, df, run_dir, say))
        return plans[0]

    if p.uses_radiomics:
        pins[C.TABLE_RADIOMICS] = stage("extract", lambda: _extract(p, df, store, opts, plan()))["version"]
    else:
        stage("extract", lambda: {"skipped": "no feature set reads radiomics"})
    if p.uses_deep:
        pins[C.TABLE_DEEP] = stage("embed", lambda: _embed(p, df, store, opts, plan()))["version"]
    else:
        stage("embed", lambda: {"skipped": "no feature set reads deep features"})
    if (p.data.get("model") or {}).get("kind") == "score_nomogram":  # Zhang 2025: its own model stages
        from alnm_ray.protocol.scores_run import run_score_stages

        run_score_stages(p, opts, store, pins, clinical, stage)
        result.stages, result.seconds = folder.doc["stages"], time.perf_counter() - start
        return result
    cfg = tune_config(p, opts, pins, clinical)
    from alnm_ray.tune import load_inputs

    full = load_inputs(store, cfg)
    if C.TABLE_CLINICAL in full.table_versions:
        pins[C.TABLE_CLINICAL] = full.table_versions[C.TABLE_CLINICAL]

    def sweep() -> dict[str, Any]:
        from alnm_ray.tune import run_sweep

        res = run_sweep(cfg, run_dir / SWEEP_DIR, inputs=training_inputs(p, full), overwrite=True)
        return {"run_id": res.run_id, "units": len(res.units), "computed": res.computed,
                "cv_patients": int(len(training_inputs(p, full).y))}

    stage("sweep", sweep)

    def evaluate() -> dict[str, Any]:
        from alnm_ray.protocol.evaluate import write_evaluation

        from alnm_ray.protocol.evaluate import evaluate_protocol

        ev = evaluate_protocol(p, full, quick=opts.quick, seed=p.cv()[2])
        files = write_evaluation(ev, run_dir)
        return {"files": files, "models": len(ev.metrics[["feature_set", "classifier"]].drop_duplicates())}

    stage("evaluate", evaluate)
    summary = pd.read_csv(run_dir / SWEEP_DIR / "summary.csv")
    fs, clf = final_choice(p, summary)

    def bundle() -> dict[str, Any]:
        from alnm_ray.protocol.fusion_bundle import freeze_final_model

        return freeze_final_model(p, store, fs, clf, pins, run_dir / BUNDLE_DIR, opts)

    stage("bundle", bundle)

    def report() -> dict[str, Any]:
        from alnm_ray.report.protocol import build_protocol_report
        from alnm_ray.standards.checklist import finish_run

        finish_run(store, run_dir / SWEEP_DIR)
        path = build_protocol_report(run_dir)
        return {"report": str(path)}

    stage("report", report)
    result.stages = folder.doc["stages"]
    result.seconds = time.perf_counter() - start
    return result


def run_summary(p: Protocol, result: RunResult) -> str:
    """The one summary printed at the end: the final model's metrics per set, and where things are."""
    import pandas as pd

    metrics = pd.read_csv(result.run_dir / "metrics.csv")
    bundle = result.stages.get("bundle", {})
    fs, clf = bundle.get("feature_set"), bundle.get("classifier")
    rows = metrics[(metrics.feature_set == fs) & (metrics.classifier == clf)]
    lines = [f"run {p.name} v{p.version} ({p.hash[:12]}) in {result.seconds:.1f} s: "
             f"{len(result.computed)} stage(s) computed, {len(result.reused)} reused"]
    lines.append(f"final model {fs}/{clf} (threshold {rows['threshold'].iloc[0]:.3f}, training-set Youden):"
                 if len(rows) else f"final model {fs}/{clf}")
    for r in rows.itertuples():
        lines.append(f"  {r.set:<20} n={r.n:<4} AUC {r.auc:.3f} ({r.auc_low:.3f}–{r.auc_high:.3f})  "
                     f"acc {r.accuracy:.3f}  sens {r.sensitivity:.3f}  spec {r.specificity:.3f}")
    lines.append(f"report {result.stages.get('report', {}).get('report')}; bundle {bundle.get('path')}")
    return "\n".join(lines)


def quick_note() -> str:
    """What ``--quick`` limits (for help texts)."""
    return ", ".join(f"{k} <= {v}" for k, v in QUICK_LIMITS.items())


def parse_manifests(values: Sequence[str]) -> tuple[str, ...]:
    return tuple(str(v) for v in values)
