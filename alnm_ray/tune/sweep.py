"""Orchestrating a sweep with Ray Tune: plan units, skip finished ones, run the rest, collect.

One ``Tuner`` runs every unfinished unit (CV chunks, hold-out, held-out
centres) as a grid of trials, one CPU each, at most ``max_concurrent`` at a
time, with ``reuse_actors=True``: a function trial's actor (a worker process
that has already imported scikit-learn, XGBoost, LightGBM and the selection
code) runs the next trial instead of a fresh process being started -- on a
loaded 2-core machine that was ~10 s per trial without reuse against well
under 1 s with it.  The sweep's data goes into the object store once
(``tune.with_parameters``).  Tune's own console output is silenced
(``verbose=0``); the FIFO scheduler drives our progress line, and no callback
is passed to ``Tuner`` (see :data:`JSON_LOGGER`).

Resuming: every unit writes its result files and then a marker
(:mod:`alnm_ray.tune.trial`); a re-run of the same command skips units whose
marker carries the same run id, so only missing units are computed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from alnm_ray.exceptions import ConfigError, SweepError
from alnm_ray.progress import NullProgress, progress
from alnm_ray.runtime import environ
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import TuneInputs, load_inputs
from alnm_ray.tune.payload import UNIT_KEY, TrialPayload, build_payload
from alnm_ray.tune.trial import trainable, unit_done
from alnm_ray.tune.units import Unit, plan_units

logger = logging.getLogger(__name__)

#: The run folder's sweep marker (run id and config), written before any trial.
SWEEP_FILE = "sweep.json"
TRIALS_DIR = "trials"
RAY_RESULTS_DIR = "ray_results"
#: Set around ``Tuner.fit``: the legacy output engine is silent at ``verbose=0``
#: (the new one still prints a banner); only the JSON result logger is kept
#: (no CSV/TensorBoard files per trial -- our results are the unit files).
QUIET_TUNE_ENV: dict[str, str] = {"RAY_AIR_NEW_OUTPUT": "0", "TUNE_DISABLE_AUTO_CALLBACK_LOGGERS": "1"}
#: The JSON result logger (the result grid reads its ``result.json``), named through
#: ``RAY_TUNE_CALLBACKS`` rather than passed as a callback: callbacks passed to
#: ``Tuner`` make ``tune.run`` record telemetry by importing the MLflow, W&B, Comet and
#: Aim integrations (1.2 s of the driver before the first trial, measured).
JSON_LOGGER = "ray.tune.logger.JsonLoggerCallback"
#: Set around ``Tuner.fit`` too: Tune's own SIGINT handler would swallow Ctrl-C, return
#: normally (so the command exited 0) and advise ``Tuner.restore``, which is not how a
#: sweep resumes.  Without it Ctrl-C raises :class:`KeyboardInterrupt` out of ``fit``;
#: finished units are already on disk, and re-running the same command resumes.
NO_TUNE_SIGINT_ENV: dict[str, str] = {"TUNE_DISABLE_SIGINT_HANDLER": "1"}
#: The CLI's DEBUG log, created in the run folder before the sweep starts.
RUN_LOG = "alnm-ray.log"


@dataclass
class SweepResult:
    """What a sweep did.

    Attributes:
        run_dir: The run folder.
        run_id: Content hash of config + input table versions.
        units: Every unit of the sweep.
        computed: Units computed by this call.
        reused: Units found complete from an earlier call.
        complete: Whether every unit is done (outputs written).
        wall_seconds: Wall time of this call.
        tune_seconds: Wall time of ``Tuner.fit`` (0 when nothing ran).
        unit_seconds: Sum of the computed units' own compute time (trial-side).
        overhead: Tune's time around the units (see :func:`trial_overhead`; empty
            when nothing ran).
        outputs: Paths and store versions written (when complete).
        summary: Mean ± SD per feature set x classifier (when complete).
        inputs: The assembled inputs.
    """

    run_dir: Path
    run_id: str
    units: list[Unit]
    computed: int = 0
    reused: int = 0
    complete: bool = False
    wall_seconds: float = 0.0
    tune_seconds: float = 0.0
    unit_seconds: float = 0.0
    overhead: dict[str, float | None] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)
    summary: pd.DataFrame | None = None
    inputs: TuneInputs | None = None


def check_run_dir(run_dir: str | os.PathLike[str], run_id: str, overwrite: bool = False) -> bool:
    """Check that ``run_dir`` is new, empty, or holds this very sweep (nothing is written).

    Returns:
        True when the folder holds another sweep that ``overwrite`` will discard.

    Raises:
        ConfigError: Another sweep or foreign files are there and ``overwrite`` is False.
    """
    run_dir = Path(run_dir)
    marker = run_dir / SWEEP_FILE
    if marker.is_file():
        old = json.loads(marker.read_text(encoding="utf-8")).get("run_id")
        if old != run_id and not overwrite:
            raise ConfigError(
                f"--out {run_dir}: the folder holds another sweep (run {str(old)[:12]}; this one "
                f"is {run_id[:12]}: different settings or table versions); expected the same "
                "sweep to resume. Use a new --out folder, or --overwrite to discard it.")
        return old != run_id
    if run_dir.exists() and any(p.name != RUN_LOG for p in run_dir.iterdir()) and not overwrite:
        raise ConfigError(f"--out {run_dir}: the folder exists and is not a tune run folder; expected "
                          "a new or empty folder. Choose another --out, or --overwrite.")
    return False


def _prepare_run_dir(run_dir: Path, run_id: str, cfg: TuneRunConfig, overwrite: bool) -> None:
    marker = run_dir / SWEEP_FILE
    if check_run_dir(run_dir, run_id, overwrite):
        for sub in (TRIALS_DIR, RAY_RESULTS_DIR):
            shutil.rmtree(run_dir / sub, ignore_errors=True)
    (run_dir / TRIALS_DIR).mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"run_id": run_id, "config": cfg.to_dict()}, indent=1, default=str),
                      encoding="utf-8")


def _progress_scheduler(bar: Any) -> Any:
    """Tune's FIFO scheduler, advancing the progress line as trials end.

    A scheduler rather than a ``tune.Callback``: see :data:`JSON_LOGGER`.
    """
    from ray.tune.schedulers import FIFOScheduler

    class ProgressScheduler(FIFOScheduler):
        """FIFO order; the bar is dropped when pickled (Tune saves its state)."""

        def __init__(self) -> None:
            super().__init__()
            self.bar = bar
            self.failed = 0

        def __getstate__(self) -> dict:
            return {**self.__dict__, "bar": NullProgress()}

        def on_trial_complete(self, tune_controller: Any, trial: Any, result: dict) -> None:
            self.bar.update(1)

        def on_trial_error(self, tune_controller: Any, trial: Any) -> None:
            self.failed += 1
            self.bar.update(1, failed=self.failed)

    return ProgressScheduler()


def trial_overhead(records: list[dict[str, Any]], fit_start: float, fit_end: float,
                   concurrent: int) -> dict[str, float | None]:
    """Where ``Tuner.fit``'s time went besides the units' own work.

    Args:
        records: Markers of the units computed by this fit (``seconds``, ``pid``,
            ``started``, ``ended`` epoch seconds; see :func:`~alnm_ray.tune.trial.execute_unit`).
        fit_start, fit_end: Epoch seconds around ``Tuner.fit``.
        concurrent: Concurrent trials.

    Returns:
        ``overhead_per_trial``: CPU-seconds of the fit not spent in units, per
        trial (``(concurrent x fit wall - unit work) / trials``: start-up, Tune's
        bookkeeping and idle slots all count); ``first_unit_after``: seconds from
        the fit's start to the first unit's start (Tune and worker start-up);
        ``gap_between_units``: mean seconds between one unit's end and the next
        unit's start in the same worker (Tune's per-trial cost with a reused
        actor; None when no worker ran two units); ``after_last_unit``: seconds
        from the last unit's end to the fit's return; ``workers``: distinct
        worker processes.  Empty when ``records`` is.

    Example:
        >>> recs = [{"seconds": 1.0, "pid": 1, "started": 10.0, "ended": 11.0},
        ...         {"seconds": 1.0, "pid": 1, "started": 11.5, "ended": 12.5}]
        >>> out = trial_overhead(recs, 8.0, 13.0, 1)
        >>> out["overhead_per_trial"], out["first_unit_after"], out["gap_between_units"]
        (1.5, 2.0, 0.5)
    """
    if not records:
        return {}
    busy = sum(float(r["seconds"]) for r in records)
    gaps: list[float] = []
    by_pid: dict[Any, list[dict[str, Any]]] = {}
    for r in records:
        by_pid.setdefault(r.get("pid"), []).append(r)
    for runs in by_pid.values():
        runs.sort(key=lambda r: float(r["started"]))
        gaps += [float(b["started"]) - float(a["ended"]) for a, b in zip(runs, runs[1:])]
    return {"overhead_per_trial": (concurrent * (fit_end - fit_start) - busy) / len(records),
            "first_unit_after": min(float(r["started"]) for r in records) - fit_start,
            "gap_between_units": sum(gaps) / len(gaps) if gaps else None,
            "after_last_unit": fit_end - max(float(r["ended"]) for r in records),
            "workers": float(len(by_pid))}


def tune_callbacks_env() -> dict[str, str]:
    """``RAY_TUNE_CALLBACKS`` for ``Tuner.fit``: any callbacks already named, plus :data:`JSON_LOGGER`.

    Example:
        >>> tune_callbacks_env()["RAY_TUNE_CALLBACKS"].endswith("JsonLoggerCallback")
        True
    """
    named = [c for c in os.environ.get("RAY_TUNE_CALLBACKS", "").split(",") if c.strip()]
    return {"RAY_TUNE_CALLBACKS": ",".join(dict.fromkeys(named + [JSON_LOGGER]))}


def run_tuner(todo: list[Unit], payload: TrialPayload, run_dir: Path, *, concurrent: int,
              quiet: bool) -> tuple[list[str], float]:
    """Run ``todo`` units as one Tune grid; return (error texts, wall seconds)."""

    from ray import tune

    bar = progress(len(todo), "tune trials", quiet=quiet)
    fn = tune.with_resources(tune.with_parameters(trainable, payload=payload), {"cpu": 1})
    tuner = tune.Tuner(
        fn, param_space={UNIT_KEY: tune.grid_search([u.uid for u in todo])},
        tune_config=tune.TuneConfig(max_concurrent_trials=concurrent, reuse_actors=True,
                                    scheduler=_progress_scheduler(bar),
                                    trial_dirname_creator=lambda t: f"trial_{t.trial_id}"),
        run_config=tune.RunConfig(
            name=f"sweep-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=str((run_dir / RAY_RESULTS_DIR).resolve()), verbose=0,
            failure_config=tune.FailureConfig(max_failures=0)))
    start = time.perf_counter()
    logger.debug("tuner built; fitting %d trials", len(todo))
    with bar, environ({**QUIET_TUNE_ENV, **NO_TUNE_SIGINT_ENV, **tune_callbacks_env()}):
        grid = tuner.fit()  # Ctrl-C: KeyboardInterrupt propagates (the CLI exits 130)
    seconds = time.perf_counter() - start
    logger.debug("tuner finished in %.1f s", seconds)
    errors = []
    for result in (grid[i] for i in range(len(grid))):
        if result.error is not None:
            unit = (result.config or {}).get(UNIT_KEY, "?")
            text = str(result.error).strip().splitlines()
            logger.debug("trial of unit %s failed:\n%s", unit, result.error)
            errors.append(f"{unit}: {text[-1] if text else type(result.error).__name__}")
    return errors, seconds


def _concurrency(cfg: TuneRunConfig) -> int:
    from alnm_ray.runtime import cluster_cpus

    return int(cfg.max_concurrent or max(1, int(cluster_cpus())))


def run_sweep(cfg: TuneRunConfig, out: str | os.PathLike[str], *, overwrite: bool = False,
              inputs: TuneInputs | None = None) -> SweepResult:
    """Run (or resume) a sweep and write the run folder and store tables.

    Starts an embedded Ray when none is running (the CLI starts one first).

    Args:
        cfg: Sweep configuration.
        out: Run folder.
        overwrite: Discard a run folder holding another sweep.
        inputs: Pre-loaded inputs (default: read from ``cfg.store``).

    Returns:
        :class:`SweepResult` (``complete`` False when ``max_trials`` stopped it early).

    Raises:
        SweepError: When trials failed (finished units are kept; re-run to resume).
        ConfigError, SchemaMismatchError, StoreError: Bad inputs (before any trial).
    """
    from alnm_ray.runtime import ensure_ray
    from alnm_ray.store import FeatureStore
    from alnm_ray.tune.outputs import write_outputs
    from alnm_ray.tune.search import sample_candidates

    start = time.perf_counter()
    store = FeatureStore(cfg.store)
    inputs = inputs if inputs is not None else load_inputs(store, cfg)
    run_id = cfg.run_hash(inputs.table_versions)
    run_dir = Path(out)
    _prepare_run_dir(run_dir, run_id, cfg, overwrite)
    trials_dir = run_dir / TRIALS_DIR
    ensure_ray()
    concurrent = _concurrency(cfg)
    search = cfg.search == "random"
    centers = []
    if inputs.centers is not None and cfg.external is not False:
        centers = sorted(inputs.centers.unique())
        if len(centers) < 2:
            if cfg.external:
                raise ConfigError(f"--external: leave-one-centre-out needs at least 2 centres; the "
                                  f"cohort has {centers}. Pass --no-external.")
            centers = []
    elif cfg.external:
        raise ConfigError("--external: no table has a 'center' column; expected centres for "
                          "leave-one-centre-out. Pass --no-external.")
    units = plan_units(inputs.plain, inputs.fusion, repeats=cfg.repeats, folds=cfg.folds,
                       widths={n: X.shape[1] for n, X in inputs.sets.items()}, cpus=concurrent,
                       chunk=cfg.chunk, holdout=cfg.holdout, centers=centers,
                       samples=cfg.samples if search else None,
                       fusion_inner_folds=cfg.fusion_inner_folds)
    done = [u for u in units if unit_done(trials_dir, u.uid, run_id)]
    todo = [u for u in units if u.uid not in {d.uid for d in done}]
    if cfg.max_trials is not None:
        todo = todo[:cfg.max_trials]
    result = SweepResult(run_dir, run_id, units, reused=len(done), inputs=inputs)
    logger.info("sweep %s: %d units (%d already done, %d to run), %d concurrent trials",
                run_id[:12], len(units), len(done), len(todo), concurrent)
    candidates = sample_candidates(cfg.classifiers, cfg.samples, cfg.seed) if search else None
    if todo:
        payload = build_payload(inputs, cfg, units, run_id, trials_dir, candidates)
        fit_start = time.time()
        errors, result.tune_seconds = run_tuner(todo, payload, run_dir, concurrent=concurrent,
                                                quiet=cfg.quiet)
        fit_end = time.time()
        finished = [u for u in todo if unit_done(trials_dir, u.uid, run_id)]
        records = [json.loads((trials_dir / f"{u.uid}.json").read_text(encoding="utf-8"))
                   for u in finished]
        result.computed = len(finished)
        result.unit_seconds = sum(r["seconds"] for r in records)
        result.overhead = trial_overhead(records, fit_start, fit_end, concurrent)
        logger.debug("Tune overhead: %s", result.overhead)
        if errors:
            shown = "\n".join(f"  - {e}" for e in errors[:5]) + (
                f"\n  … and {len(errors) - 5} more" if len(errors) > 5 else "")
            raise SweepError(
                f"tune: {len(errors)} of {len(todo)} trial(s) failed; expected every unit to finish. "
                f"{len(done) + len(finished)} of {len(units)} units are saved in {trials_dir}.\n{shown}\n"
                "Fix the cause and re-run the same command: finished units are not recomputed "
                "(--debug and RUN/alnm-ray.log hold details).")
    result.complete = all(unit_done(trials_dir, u.uid, run_id) for u in units)
    if result.complete:
        logger.debug("writing outputs")
        result.outputs, result.summary = write_outputs(
            store, cfg, inputs, units, run_id, run_dir, candidates,
            started=start, sweep={"computed": result.computed, "reused": result.reused,
                                  "tune_seconds": result.tune_seconds,
                                  "unit_seconds": result.unit_seconds, "concurrent": concurrent,
                                  **result.overhead})
    result.wall_seconds = time.perf_counter() - start
    return result
