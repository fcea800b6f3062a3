"""Benchmark: ``alnm-ray tune`` against the scikit-learn loop a researcher writes today.

Part 1 — the fixed grid.  270 patients x 20 already-selected features (an
imported per-patient table; the selection config is z-score only), the eight
classifiers, 20 x 5 repeated stratified K-fold, on identical data, folds and
models (the folds come from :func:`alnm_ray.model.repeated_kfold`, the models
from :func:`alnm_ray.model.make_classifier`, with ``StandardScaler`` in front
as our z-score step):

* ``sequential`` — ``cross_val_score(..., scoring="roc_auc")`` per classifier in
  one process;
* ``joblib`` — the same with ``n_jobs=2``;
* ``alnm-ray tune`` — the real CLI in a fresh process (``--num-cpus 2``, no
  hold-out, no external validation): Ray start-up, store read, Tune trials,
  run folder and store tables all included;
* ``ray tasks`` — the same units as plain Ray tasks (one task per unit, the data
  put into the object store once), in a fresh process, for the choice of
  orchestrator.

Deterministic classifiers (lr, nb, knn, svm) must give the same fold AUCs in
the sequential loop and in ``tune`` (checked and reported).

Part 2 — the full paper protocol: selection inside every training fold (ICC,
SMOTE, z-score, univariate, Spearman, mRMR, LASSO 20 x 10), the eight
classifiers, 7:3 hold-out with CV on the training patients, on a synthetic
radiomics table (``--protocol-features`` per patient, readers B/A2 for 30
patients); wall time of the CLI as repeats and then patients grow, and one
size (``--protocol-baseline-repeats``) also run in one process without Ray
(``run_cv`` + ``run_holdout``, the same library calls).

Usage::

    .venv/bin/python benchmarks/bench_tune.py                    # both parts, 2 CPUs
    .venv/bin/python benchmarks/bench_tune.py --parts grid --repeats 5 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from alnm_ray.model import make_classifier, repeated_kfold  # noqa: E402
from alnm_ray.model.classifiers import GUO2024_CLASSIFIERS as CLASSIFIER_NAMES  # noqa: E402
from alnm_ray.store import FeatureStore  # noqa: E402

CLI = str(Path(sys.executable).parent / "alnm-ray")
ZSCORE_ONLY = {"name": "zscore-only", "icc_threshold": None, "smote": False, "zscore": True,
               "steps": []}
FAST_ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def grid_store(path: str, n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A store with one imported table ``selected`` (n patients x p features, label, center)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(int)
    X = rng.normal(size=(n, p))
    X[:, :5] += 0.6 * y[:, None]
    ids = [f"P{i:04d}" for i in range(n)]
    df = pd.DataFrame(X, columns=[f"x_{j:02d}" for j in range(p)])
    df.insert(0, "patient_id", ids)
    df.insert(1, "label", y)
    FeatureStore(path).write_version("selected", df)
    frame = df.set_index("patient_id").sort_index()
    return frame.drop(columns="label"), frame["label"].to_numpy()


def sklearn_loop(X: pd.DataFrame, y: np.ndarray, repeats: int, folds: int, seed: int,
                 n_jobs: int | None) -> tuple[float, dict[str, np.ndarray]]:
    """cross_val_score over the eight classifiers on our folds; returns (seconds, fold AUCs)."""
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    splits = [(tr, te) for _, _, tr, te in repeated_kfold(y, repeats, folds, seed)]
    out = {}
    start = time.perf_counter()
    for name in CLASSIFIER_NAMES:
        model = make_pipeline(StandardScaler(), make_classifier(name, seed=seed))
        out[name] = cross_val_score(model, X.to_numpy(), y, cv=splits, scoring="roc_auc",
                                    n_jobs=n_jobs)
    return time.perf_counter() - start, out


def run_cli(args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    proc = subprocess.run([CLI, "--num-cpus", "2", "-q", *args], capture_output=True, text=True, encoding="utf-8",
                          env=FAST_ENV)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"alnm-ray {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return wall, proc.stdout


def tasks_worker(store: str, out_json: str, repeats: int, folds: int, seed: int, sel: str) -> None:
    """(Subprocess) the tune units as plain Ray tasks; writes timings to ``out_json``."""
    import ray

    from alnm_ray.runtime import RayConfig, init_ray
    from alnm_ray.tune import TuneRunConfig, load_inputs, plan_units
    from alnm_ray.tune.payload import build_payload
    from alnm_ray.tune.trial import execute_unit

    t0 = time.perf_counter()
    cfg = TuneRunConfig(store=store, selection=json.loads(sel), feature_sets=("selected",),
                        classifiers=CLASSIFIER_NAMES,
                        repeats=repeats, folds=folds, seed=seed, holdout=False, external=False)
    inputs = load_inputs(store, cfg)
    init_ray(RayConfig(num_cpus=2, quiet=True))
    t_init = time.perf_counter()
    units = plan_units(inputs.plain, inputs.fusion, repeats=repeats, folds=folds, widths={}, cpus=2,
                       holdout=False)
    trials = Path(tempfile.mkdtemp()) / "trials"
    payload = ray.put(build_payload(inputs, cfg, units, "tasks", trials, None))
    run = ray.remote(num_cpus=1)(lambda unit, data: execute_unit(unit, data))
    records = ray.get([run.remote(u, payload) for u in units])
    t_end = time.perf_counter()
    Path(out_json).write_text(json.dumps({
        "wall_seconds": t_end - t0, "ray_init_seconds": t_init - t0, "run_seconds": t_end - t_init,
        "units": len(units), "unit_seconds": sum(r["seconds"] for r in records)}), encoding="utf-8")
    ray.shutdown()


def part_grid(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    store = str(work / "grid_store")
    X, y = grid_store(store, args.patients, args.features, args.seed)
    print(f"part 1: {len(y)} patients x {X.shape[1]} features, {len(CLASSIFIER_NAMES)} classifiers, "
          f"{args.repeats} x {args.folds}-fold CV", flush=True)
    seq_s, seq_auc = sklearn_loop(X, y, args.repeats, args.folds, args.seed, None)
    print(f"  sequential sklearn loop: {seq_s:.1f} s", flush=True)
    job_s, _ = sklearn_loop(X, y, args.repeats, args.folds, args.seed, 2)
    print(f"  joblib n_jobs=2:         {job_s:.1f} s", flush=True)
    sel = work / "zscore.yaml"
    sel.write_text(json.dumps(ZSCORE_ONLY), encoding="utf-8")  # JSON is valid YAML
    tune_s, _ = run_cli(["tune", "--store", store, "--out", str(work / "grid_run"), "--feature-sets",
                         "selected", "--repeats", str(args.repeats), "--folds", str(args.folds),
                         "--seed", str(args.seed), "--selection", str(sel), "--no-holdout",
                         "--no-external", "--classifiers", ",".join(CLASSIFIER_NAMES)])
    run = json.loads((work / "grid_run" / "run.json").read_text(encoding="utf-8"))
    sweep = run["sweep"]
    print(f"  alnm-ray tune (CLI):     {tune_s:.1f} s  (Tune {sweep['tune_seconds']:.1f} s for "
          f"{run['trials']} trials, {sweep['unit_seconds']:.1f} s of unit work)", flush=True)
    out_json = work / "tasks.json"
    subprocess.run([sys.executable, __file__, "--_tasks-worker", store, str(out_json),
                    str(args.repeats), str(args.folds), str(args.seed), json.dumps(ZSCORE_ONLY)],
                   check=True, env=FAST_ENV)
    tasks = json.loads(out_json.read_text(encoding="utf-8"))
    print(f"  plain Ray tasks:         {tasks['wall_seconds']:.1f} s  (tasks {tasks['run_seconds']:.1f} s "
          f"for {tasks['units']} units)", flush=True)
    cv = pd.read_parquet(work / "grid_run" / "cv_results.parquet").sort_values(["classifier", "repeat", "fold"])
    diffs = {}
    for name in ("lr", "nb", "knn", "svm"):
        got = cv.loc[cv.classifier == name, "auc"].to_numpy()
        diffs[name] = float(np.max(np.abs(got - seq_auc[name])))
    per_trial = (sweep["tune_seconds"] * sweep["concurrent"] - sweep["unit_seconds"]) / max(run["trials"], 1)
    return {"patients": len(y), "features": X.shape[1], "repeats": args.repeats, "folds": args.folds,
            "sequential_s": seq_s, "joblib_s": job_s, "tune_cli_s": tune_s,
            "tune_fit_s": sweep["tune_seconds"], "tune_unit_work_s": sweep["unit_seconds"],
            "tune_trials": run["trials"], "tune_overhead_per_trial_s": per_trial,
            "tasks_wall_s": tasks["wall_seconds"], "tasks_run_s": tasks["run_seconds"],
            "speedup_tune_vs_sequential": seq_s / tune_s, "speedup_joblib_vs_sequential": seq_s / job_s,
            "speedup_tasks_vs_sequential": seq_s / tasks["wall_seconds"],
            "max_abs_auc_diff_deterministic": diffs,
            "mean_auc": {k: float(np.mean(v)) for k, v in seq_auc.items()}}


def protocol_store(path: str, n: int, n_features: int, seed: int) -> None:
    """Long radiomics table: readers A (all), B and A2 (30 patients); 3 sequences."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(int)
    seqs = ("T2WI", "ADC", "DCE_P2")
    per = n_features // len(seqs)
    feats = [f"original_glcm_F{j:04d}" for j in range(per)]
    icc = rng.choice(n, size=min(30, n), replace=False)
    noisy = rng.random(per) < 0.3
    frames = []
    for seq in seqs:
        base = rng.normal(size=(n, per))
        base[:, :4] += 0.7 * y[:, None]
        for reader in ("A", "B", "A2"):
            idx = np.arange(n) if reader == "A" else icc
            vals = base[idx] + (0 if reader == "A" else rng.normal(size=(len(idx), per)) * np.where(noisy, 1.0, 0.05))
            f = pd.DataFrame(vals, columns=feats)
            f.insert(0, "cohort", "bench")
            f.insert(1, "center", "C1")
            f.insert(2, "patient_id", [f"P{i:04d}" for i in idx])
            f.insert(3, "sequence", seq)
            f.insert(4, "reader", reader)
            f.insert(5, "label", y[idx])
            frames.append(f)
    FeatureStore(path).write_version("radiomics", pd.concat(frames, ignore_index=True))


def protocol_sequential(store: str, repeats: int, folds: int, seed: int) -> float:
    """The same protocol (CV on the training patients + hold-out) in one process, no Ray."""
    from alnm_ray.model import run_cv, run_holdout
    from alnm_ray.tune import TuneRunConfig, load_inputs

    start = time.perf_counter()
    cfg = TuneRunConfig(store=store, feature_sets=("radiomics",), repeats=repeats, folds=folds,
                        seed=seed, external=False)
    inputs = load_inputs(store, cfg)
    ids = inputs.train_ids
    X = {"radiomics": inputs.sets["radiomics"]}
    run_cv({k: v.loc[ids] for k, v in X.items()}, inputs.y.loc[ids], CLASSIFIER_NAMES,
           cfg.selection_config(), repeats=repeats, folds=folds, seed=seed,
           reader_table=inputs.reader_ratings)
    run_holdout(X, inputs.y, CLASSIFIER_NAMES, cfg.selection_config(), seed=seed,
                train_ids=inputs.train_ids, test_ids=inputs.test_ids, reader_table=inputs.reader_ratings)
    return time.perf_counter() - start


def part_protocol(args: argparse.Namespace, work: Path) -> list[dict[str, Any]]:
    rows = []
    plan = [(args.patients, r) for r in args.protocol_repeats] + [
        (n, args.protocol_repeats[0]) for n in args.protocol_patients if n != args.patients]
    for n, repeats in plan:
        store = str(work / f"proto_store_{n}")
        if not Path(store).exists():
            protocol_store(store, n, args.protocol_features, args.seed)
        out = work / f"proto_run_{n}_{repeats}"
        wall, _ = run_cli(["tune", "--store", store, "--out", str(out), "--feature-sets", "radiomics",
                           "--repeats", str(repeats), "--folds", str(args.folds), "--seed", str(args.seed),
                           "--no-external", "--classifiers", ",".join(CLASSIFIER_NAMES)])
        run = json.loads((out / "run.json").read_text(encoding="utf-8"))
        cv = pd.read_parquet(out / "cv_results.parquet")
        rows.append({"patients": n, "cv_patients": run["cv_patients"], "repeats": repeats,
                     "features": args.protocol_features, "wall_s": wall, "trials": run["trials"],
                     "tune_fit_s": run["sweep"]["tune_seconds"], "unit_work_s": run["sweep"]["unit_seconds"],
                     "select_s_per_fold": float(cv.drop_duplicates(["repeat", "fold"])["select_seconds"].mean()),
                     "fit_s_per_fold_all_clfs": float(cv.groupby(["repeat", "fold"])["fit_seconds"].sum().mean())})
        print(f"  protocol: {n} patients, {repeats} repeats: {wall:.1f} s (Tune {rows[-1]['tune_fit_s']:.1f} s, "
              f"selection {rows[-1]['select_s_per_fold']:.2f} s/fold, 8 classifiers "
              f"{rows[-1]['fit_s_per_fold_all_clfs']:.2f} s/fold)", flush=True)
        if n == args.patients and repeats == args.protocol_baseline_repeats:
            rows[-1]["sequential_no_ray_s"] = protocol_sequential(store, repeats, args.folds, args.seed)
            rows[-1]["speedup_vs_sequential"] = rows[-1]["sequential_no_ray_s"] / wall
            print(f"  protocol: same run in one process without Ray (run_cv + run_holdout): "
                  f"{rows[-1]['sequential_no_ray_s']:.1f} s -> tune {rows[-1]['speedup_vs_sequential']:.2f}x",
                  flush=True)
    return rows


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--_tasks-worker":
        store, out_json, repeats, folds, seed, sel = sys.argv[2:8]
        tasks_worker(store, out_json, int(repeats), int(folds), int(seed), sel)
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parts", default="grid,protocol")
    ap.add_argument("--patients", type=int, default=270)
    ap.add_argument("--features", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--protocol-features", type=int, default=3000)
    ap.add_argument("--protocol-repeats", type=lambda s: [int(v) for v in s.split(",")], default=[5, 10, 20])
    ap.add_argument("--protocol-patients", type=lambda s: [int(v) for v in s.split(",")], default=[135, 270, 540])
    ap.add_argument("--protocol-baseline-repeats", type=int, default=10,
                    help="Also time this protocol size in one process without Ray (0 = skip).")
    ap.add_argument("--json", default=None, help="Write the figures to this JSON file.")
    args = ap.parse_args()
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPUs {os.cpu_count()}", flush=True)
    result: dict[str, Any] = {"load_average_start": load}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if "grid" in args.parts:
            result["grid"] = g = part_grid(args, work)
            print(f"  speed-up vs sequential: tune {g['speedup_tune_vs_sequential']:.2f}x, joblib "
                  f"{g['speedup_joblib_vs_sequential']:.2f}x, ray tasks {g['speedup_tasks_vs_sequential']:.2f}x; "
                  f"Tune overhead ~{g['tune_overhead_per_trial_s']:.2f} s/trial; max |dAUC| deterministic "
                  f"classifiers {max(g['max_abs_auc_diff_deterministic'].values()):.2g}", flush=True)
        if "protocol" in args.parts:
            print(f"part 2: full protocol ({args.protocol_features} radiomics features, selection in folds, "
                  "8 classifiers, hold-out)", flush=True)
            result["protocol"] = part_protocol(args, work)
    result["load_average_end"] = os.getloadavg()
    print(f"load average at end: {result['load_average_end'][0]:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
