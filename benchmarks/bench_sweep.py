"""Benchmark: the whole ``alnm-ray tune`` CLI against the same CV written as a scikit-learn loop.

The work: a P-patient x F-feature imported radiomics table (weak signal), the
guo2024 selection without ICC (SMOTE, z-score, univariate, Spearman, mRMR,
LASSO 20 x 10), the eight classifiers, R x K repeated stratified K-fold, no
hold-out and no external validation.

* ``loop`` -- what a researcher writes with the project's own estimators: one
  ``imblearn`` Pipeline (the selection steps of
  :func:`alnm_ray.select.build_selection_pipeline` + the classifier of
  :func:`alnm_ray.model.make_classifier`) per classifier through
  ``cross_validate(n_jobs=2, scoring="roc_auc")``.  The selection is refitted
  for every classifier in every fold (8 times the selection work).
* ``cli`` -- ``alnm-ray --num-cpus 2 tune ...`` in a fresh process: Ray
  start-up, store read, Tune trials, run folder and store tables included.
  Each fold's selection is fitted once and shared by the eight classifiers.

Both run as fresh processes (interpreter start and imports included), one
after the other, on identical folds (:func:`alnm_ray.model.repeated_kfold`
over the same sorted patients) and identical seeds: the loop's Pipeline is
built per fold with the fold's seed (``derive_seed(seed, repeat, fold)``, as
``run_cv`` does), so every fold AUC must match, deterministic or not; the
script prints the mean AUCs side by side and the largest fold difference.

The CLI's time is split from its DEBUG log (``RUN/alnm-ray.log``) into
start-up (imports + store read), Ray start, Tune, and writing outputs; the
per-trial overhead is the time each Tune worker was not running a unit
(``RUN/run.json`` -> ``sweep``).  ``--cli-chunks`` runs the CLI once per
``--chunk`` value as well (e.g. ``1`` = one trial per repeat), and
``--before-src DIR`` once with an older ``alnm_ray`` package (before/after).

Usage::

    .venv/bin/python benchmarks/bench_sweep.py                      # 200 x 400, 3 x 5
    .venv/bin/python benchmarks/bench_sweep.py --cli-chunks 1 --json out.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from imblearn.pipeline import Pipeline  # noqa: E402
from sklearn.base import BaseEstimator, ClassifierMixin  # noqa: E402

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from alnm_ray.model import make_classifier  # noqa: E402
from alnm_ray.model.classifiers import GUO2024_CLASSIFIERS  # noqa: E402
from alnm_ray.select import build_selection_pipeline  # noqa: E402
from alnm_ray.select.columns import kinds_of  # noqa: E402

CLI = str(Path(sys.executable).parent / "alnm-ray")
TABLE = "bench"
#: guo2024 without the ICC filter (an imported table has no second reader).
SELECTION = {"preset": "guo2024", "icc_threshold": None}
ONE_THREAD = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
              "MKL_NUM_THREADS": "1"}


def make_table(n: int, p: int, seed: int) -> pd.DataFrame:
    """Per-patient table: ``patient_id``, ``label`` and ``p`` radiomics-named columns, weak signal."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(int)
    X = rng.normal(size=(n, p))
    X[:, :6] += 0.35 * y[:, None]
    # Correlated blocks, as radiomics features are (Spearman/mRMR have work to do).
    X[:, p // 2:] = 0.7 * X[:, :p - p // 2] + 0.3 * X[:, p // 2:]
    df = pd.DataFrame(X, columns=[f"T2WI__original_glcm_F{j:04d}" for j in range(p)])
    df.insert(0, "patient_id", [f"P{i:05d}" for i in range(n)])
    df.insert(1, "label", y)
    return df


def fold_key(ids: Any) -> str:
    """Which training fold a set of patient ids is (their digest)."""
    return hashlib.sha256("\n".join(map(str, ids)).encode()).hexdigest()


class SeededPipeline(ClassifierMixin, BaseEstimator):
    """``Pipeline(selection steps + classifier)``, seeded per fold like ``run_cv``.

    ``cross_validate`` clones one estimator per split; the fold is recognised
    from its training patients (``seeds``: :func:`fold_key` -> seed),
    so each fold gets ``derive_seed(seed, repeat, fold)`` exactly as
    ``run_cv`` seeds it.  Nothing else differs from a plain Pipeline.
    """

    def __init__(self, classifier: str = "lr", selection: dict | None = None,
                 seeds: dict | None = None) -> None:
        self.classifier = classifier
        self.selection = selection
        self.seeds = seeds

    def fit(self, X: pd.DataFrame, y: Any) -> "SeededPipeline":
        seed = self.seeds[fold_key(X.index)]
        steps = build_selection_pipeline(self.selection, kinds=kinds_of(X.columns), seed=seed).steps
        self.pipeline_ = Pipeline(steps + [("clf", make_classifier(self.classifier, seed=seed))])
        self.pipeline_.fit(X, np.asarray(y))
        self.classes_ = self.pipeline_.classes_
        return self

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict_proba(X)

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self.pipeline_.predict(X)


def loop_worker(data: str, out_json: str, repeats: int, folds: int, seed: int, n_jobs: int) -> None:
    """(Subprocess) the scikit-learn loop; writes its timings and fold AUCs to ``out_json``."""
    from sklearn.model_selection import cross_validate

    from alnm_ray.model import repeated_kfold
    from alnm_ray.model.splits import derive_seed

    df = pd.read_parquet(data).set_index("patient_id").sort_index()
    y = df.pop("label").to_numpy().astype(int)
    X = df
    splits, seeds, keys = [], {}, []
    for r, f, tr, te in repeated_kfold(y, repeats, folds, seed):
        splits.append((tr, te))
        seeds[fold_key(X.index[tr])] = derive_seed(seed, r, f)
        keys.append((r, f))
    start = time.perf_counter()
    aucs = {}
    for name in GUO2024_CLASSIFIERS:
        got = cross_validate(SeededPipeline(name, SELECTION, seeds), X, y, cv=splits, scoring="roc_auc",
                             n_jobs=n_jobs)
        aucs[name] = [float(v) for v in got["test_score"]]
    Path(out_json).write_text(json.dumps({"loop_seconds": time.perf_counter() - start,
                                          "folds": keys, "auc": aucs}), encoding="utf-8")


def timed(cmd: list[str], env: dict[str, str] | None = None
          ) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", env=env or ONE_THREAD)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return wall, proc


_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d[,.]\d+)")


def log_phases(log: Path) -> dict[str, float]:
    """Seconds between landmarks of the CLI's DEBUG log (first line = log opened)."""
    marks: list[tuple[float, str]] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        m = _STAMP.match(line)
        if m:
            stamp = datetime.fromisoformat(m.group(1).replace(",", "."))
            marks.append((stamp.timestamp(), line))
    if not marks:
        return {}

    def first(text: str) -> float | None:
        return next((t for t, line in marks if text in line), None)

    t0 = marks[0][0]
    points = {"ray_start": first("starting an embedded local Ray"), "sweep_plan": first("units ("),
              "tuner_fit": first("tuner built"), "tuner_done": first("tuner finished"),
              "outputs": first("writing outputs"), "end": marks[-1][0]}
    out, prev, prev_name = {}, t0, "log_open"
    for name, t in points.items():
        if t is not None:
            out[f"{prev_name}->{name}"] = t - prev
            prev, prev_name = t, name
    return out


def run_cli(work: Path, store: str, args: argparse.Namespace, chunk: int | None, tag: str,
            src: str | None = None) -> dict[str, Any]:
    out = work / f"run_{tag}"
    sel = work / "selection.yaml"
    sel.write_text(json.dumps(SELECTION), encoding="utf-8")  # JSON is valid YAML
    cmd = [CLI, "--num-cpus", "2", "-q", "tune", "--store", store, "--out", str(out),
           "--feature-sets", TABLE, "--repeats", str(args.repeats), "--folds", str(args.folds),
           "--seed", str(args.seed), "--selection", str(sel), "--no-holdout", "--no-external",
           "--classifiers", ",".join(GUO2024_CLASSIFIERS)]
    if chunk is not None:
        cmd += ["--chunk", str(chunk)]
    env = None if src is None else {**ONE_THREAD, "PYTHONPATH": os.path.abspath(src)}
    wall, _ = timed(cmd, env)
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    cv = pd.read_parquet(out / "cv_results.parquet")
    return {"wall_s": wall, "sweep": run["sweep"], "trials": run["trials"],
            "phases": log_phases(out / "alnm-ray.log"), "cv": cv}


def compare(cv: pd.DataFrame, loop: dict[str, Any]) -> dict[str, Any]:
    """Mean AUC per classifier (CLI, loop) and the largest per-fold difference."""
    order = {tuple(k): i for i, k in enumerate(loop["folds"])}
    rows, worst = {}, 0.0
    for name, loop_auc in loop["auc"].items():
        got = cv[cv.classifier == name].copy()
        got["i"] = [order[(int(r), int(f))] for r, f in zip(got["repeat"], got["fold"])]
        ours = got.sort_values("i")["auc"].to_numpy(float)
        theirs = np.asarray(loop_auc, float)
        diff = float(np.nanmax(np.abs(ours - theirs))) if len(ours) == len(theirs) else float("nan")
        worst = max(worst, diff) if np.isfinite(diff) else float("nan")
        rows[name] = {"cli": float(np.nanmean(ours)), "loop": float(np.nanmean(theirs)),
                      "max_fold_diff": diff}
    return {"per_classifier": rows, "max_fold_diff": worst}


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_loop-worker":
        data, out_json, repeats, folds, seed, n_jobs = sys.argv[2:8]
        loop_worker(data, out_json, int(repeats), int(folds), int(seed), int(n_jobs))
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--features", type=int, default=400)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n-jobs", type=int, default=2, help="cross_validate(n_jobs=...) of the loop.")
    ap.add_argument("--cli-chunks", default="",
                    help="Also run the CLI with these --chunk values (comma-separated).")
    ap.add_argument("--before-src", default=None, metavar="DIR",
                    help="Also run the CLI with the alnm_ray package of DIR first on PYTHONPATH (e.g. "
                         "`git archive <commit> alnm_ray | tar -x -C DIR`): before/after in one run.")
    ap.add_argument("--skip-loop", action="store_true", help="CLI runs only (no ratio).")
    ap.add_argument("--json", default=None, help="Write the figures to this JSON file.")
    args = ap.parse_args()
    from alnm_ray.store import FeatureStore

    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPUs {os.cpu_count()}",
          flush=True)
    print(f"{args.patients} patients x {args.features} features, guo2024 without ICC, 8 classifiers, "
          f"{args.repeats} x {args.folds}-fold CV", flush=True)
    result: dict[str, Any] = {"load_average_start": load, "patients": args.patients,
                              "features": args.features, "repeats": args.repeats, "folds": args.folds}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        df = make_table(args.patients, args.features, args.seed)
        data = work / "table.parquet"
        df.to_parquet(data, index=False)
        store = str(work / "store")
        FeatureStore(store).write_version(TABLE, df)
        runs: dict[str, dict[str, Any]] = {}
        runs["cli"] = run_cli(work, store, args, None, "default")
        if args.before_src:
            runs["cli (before)"] = run_cli(work, store, args, None, "before", args.before_src)
        for c in [int(v) for v in args.cli_chunks.split(",") if v.strip()]:
            runs[f"cli --chunk {c}"] = run_cli(work, store, args, c, f"chunk{c}")
        loop = None
        if not args.skip_loop:
            out_json = work / "loop.json"
            loop_wall, _ = timed([sys.executable, __file__, "--_loop-worker", str(data), str(out_json),
                                  str(args.repeats), str(args.folds), str(args.seed), str(args.n_jobs)])
            loop = json.loads(out_json.read_text(encoding="utf-8"))
            loop["wall_s"] = loop_wall
            print(f"  loop (imblearn Pipeline per classifier, cross_validate n_jobs={args.n_jobs}): "
                  f"{loop_wall:.1f} s  ({loop['loop_seconds']:.1f} s in cross_validate)", flush=True)
            result["loop"] = {"wall_s": loop_wall, "cross_validate_s": loop["loop_seconds"]}
        for name, run in runs.items():
            sweep = run["sweep"]
            phases = ", ".join(f"{k} {v:.1f}" for k, v in run["phases"].items())
            per_trial = (sweep["concurrent"] * sweep["tune_seconds"] - sweep["unit_seconds"]) / run["trials"]
            run["overhead_per_trial"] = per_trial
            gap = sweep.get("gap_between_units")
            line = (f"  {name}: {run['wall_s']:.1f} s  ({run['trials']} trials; Tune "
                    f"{sweep['tune_seconds']:.1f} s, unit work {sweep['unit_seconds']:.1f} s; overhead "
                    f"{per_trial:.2f} CPU-s/trial, first unit after "
                    f"{sweep.get('first_unit_after', float('nan')):.1f} s, between units "
                    f"{float('nan') if gap is None else gap:.2f} s)")
            if loop is not None:
                line += f"  -> {run['wall_s'] / loop['wall_s']:.2f}x the loop"
            print(line + f"\n    phases (s): {phases}", flush=True)
            entry = {k: v for k, v in run.items() if k != "cv"}
            if loop is not None:
                entry["ratio_vs_loop"] = run["wall_s"] / loop["wall_s"]
                entry["auc"] = compare(run["cv"], loop)
            result[name] = entry
        if loop is not None:
            auc = result["cli"]["auc"]
            print("  mean AUC    " + "  ".join(f"{k:>8}" for k in auc["per_classifier"]), flush=True)
            for side in ("cli", "loop"):
                print(f"  {side:<10}  " + "  ".join(f"{v[side]:8.3f}" for v in auc["per_classifier"].values()),
                      flush=True)
            print(f"  largest per-fold AUC difference: {auc['max_fold_diff']:.2g}", flush=True)
    result["load_average_end"] = os.getloadavg()
    print(f"load average at end: {result['load_average_end'][0]:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")


if __name__ == "__main__":
    main()
