"""Benchmark: every stage of the store at growing cohort sizes (1,000 and 10,000 patients).

For each size in ``--patients`` a fresh store gets:

* ``import`` -- ``alnm-ray features import`` of a synthetic per-patient table:
  N patients x 6 MRI sequences x ``--features`` radiomics-named columns per
  sequence (``T2WI__original_glcm_F000`` ...), label and centre (4 centres);
* ``sql`` -- ``alnm-ray sql``: a per-centre aggregate and a one-patient lookup;
* ``cohort`` -- :func:`alnm_ray.model.cohort.read_cohort` of that table alone (a
  Python process, no CLI): the store read that ``tune`` and ``train`` start with;
* ``tune`` -- ``alnm-ray tune`` of that table: guo2024 selection without ICC
  (an imported table has no second reader), ``--classifiers`` (three),
  ``--repeats`` x ``--folds`` CV, no hold-out;
* ``train`` -- ``alnm-ray train`` of one bundle (lr) on every patient;
* ``score`` -- ``alnm-ray score --features`` of every patient with that bundle.

Plus, once, ``extract``: ``alnm-ray synth`` of an ``--images``-patient image
cohort (small size) and ``alnm-ray extract`` of its manifest into a store.

Each stage is one fresh CLI process (``--num-cpus 2``); reported per stage:
wall seconds, the driver's peak RSS (``VmHWM`` of the CLI process, polled; Ray
workers are not included), the bytes the stage added to the store and the
1-minute load average when it ended.  The lookup must return its patient and
``score`` must write one prediction per patient, else the run stops.  ``--json``
is rewritten after every size, so a run cut short keeps what it measured.  The
table then shows how each grows from the smallest to the largest size (x wall,
x RSS against x patients).

Usage::

    .venv/bin/python benchmarks/bench_scale.py                         # 1,000 and 10,000
    .venv/bin/python benchmarks/bench_scale.py --images 1000 --features 850   # the paper's width
    .venv/bin/python benchmarks/bench_scale.py --patients 500,5000 --features 100 --images 40
    .venv/bin/python benchmarks/bench_scale.py --images 0 --stages cohort,train   # import + these
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

CLI = str(Path(sys.executable).parent / "alnm-ray")
SEQUENCES = ("T2WI", "DWI", "ADC", "DCE_P1", "DCE_P2", "DCE_P3")
TABLE = "mri"
SELECTION = {"preset": "guo2024", "icc_threshold": None}
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def make_table(n: int, per_sequence: int, seed: int) -> pd.DataFrame:
    """N patients x 6 sequences x ``per_sequence`` features (float32-sized noise, weak signal)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(int)
    cols = {"patient_id": [f"P{i:06d}" for i in range(n)], "label": y,
            "center": [f"C{1 + i % 4}" for i in range(n)]}
    for s, seq in enumerate(SEQUENCES):
        block = rng.normal(size=(n, per_sequence))
        block[:, :2] += 0.4 * y[:, None] * (s < 2)
        for j in range(per_sequence):
            cols[f"{seq}__original_glcm_F{j:03d}"] = block[:, j]
    return pd.DataFrame(cols)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.exists() else 0


STAGES = ("import", "sql", "cohort", "tune", "train", "score")
#: The cohort stage: read_cohort in a fresh interpreter, as tune and train read it.
READ_COHORT = ("import sys; from alnm_ray.model.cohort import read_cohort; "
               "print(len(read_cohort(sys.argv[1], sys.argv[2]).patients))")


def run_stage(args: list[str], store: Path | None, cwd: Path | None = None,
              argv: list[str] | None = None) -> dict[str, Any]:
    """Run one CLI process (or ``argv``); wall seconds, its peak RSS (MiB) and the store bytes it added."""
    before = tree_bytes(store) if store is not None else 0
    start = time.perf_counter()
    command = argv if argv is not None else [CLI, "--num-cpus", "2", "-q", *args]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8", env=ENV, cwd=cwd)
    peak = [0]

    def poll() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while proc.poll() is None:
            try:
                for line in status.read_text(encoding="utf-8").splitlines():
                    if line.startswith("VmHWM:"):
                        peak[0] = max(peak[0], int(line.split()[1]))
            except OSError:
                return
            time.sleep(0.1)

    watcher = threading.Thread(target=poll, daemon=True)
    watcher.start()
    out, err = proc.communicate()
    wall = time.perf_counter() - start
    watcher.join(timeout=1)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}):\n{out[-2000:]}\n{err[-3000:]}")
    added = (tree_bytes(store) - before) if store is not None else 0
    return {"wall_s": wall, "driver_peak_rss_mib": peak[0] / 1024, "store_bytes_added": added,
            "load_1min_end": os.getloadavg()[0], "stdout": out}


def one_size(work: Path, n: int, args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    root = work / f"n{n}"
    root.mkdir()
    store = root / "store"
    data = root / "table.parquet"
    df = make_table(n, args.features, args.seed)
    df.to_parquet(data, index=False)
    table_mib = df.memory_usage(deep=True).sum() / 2 ** 20
    del df
    sel = root / "selection.yaml"
    sel.write_text(json.dumps(SELECTION), encoding="utf-8")
    out: dict[str, dict[str, Any]] = {}
    stages = set(args.stages)
    out["import"] = run_stage(["features", "import", str(data), "--store", str(store), "--name", TABLE,
                               "--key", "patient_id", "--label", "label", "--center", "center"], store)
    if "sql" in stages:
        out["sql"] = sql_stage(store, n)
    if "cohort" in stages:
        out["cohort"] = run_stage([], store, argv=[sys.executable, "-c", READ_COHORT, str(store), TABLE])
        if out["cohort"]["stdout"].strip() != str(n):
            raise RuntimeError(f"read_cohort read {out['cohort']['stdout'].strip()} patients of {n}")
    if "tune" in stages:
        out["tune"] = run_stage(["tune", "--store", str(store), "--out", str(root / "run"), "--feature-sets",
                                 TABLE, "--classifiers", args.classifiers, "--repeats", str(args.repeats),
                                 "--folds", str(args.folds), "--selection", str(sel), "--no-holdout",
                                 "--no-external", "--seed", str(args.seed)], store)
    bundle = root / "bundle"
    if "train" in stages:
        out["train"] = run_stage(["train", "--store", str(store), "--feature-set", TABLE, "--classifier", "lr",
                                  "--selection", str(sel), "--out", str(bundle), "--unsigned"], store)
    if "score" in stages:
        out["score"] = run_stage(["score", str(bundle), "--features", TABLE, "--store", str(store), "--out",
                                  str(root / "predictions.parquet"), "--trust-unsigned"], store)
        scored = len(pd.read_parquet(root / "predictions.parquet"))
        if scored != n:
            raise RuntimeError(f"score wrote {scored} predictions for {n} patients")
    for stage in out.values():
        stage.pop("stdout", None)
        stage["table_mib"] = table_mib
    return out


def sql_stage(store: Path, n: int) -> dict[str, Any]:
    agg = run_stage(["sql", "--store", str(store), f"SELECT center, count(*) AS n, "
                     f"avg(\"T2WI__original_glcm_F000\") AS m FROM {TABLE} GROUP BY center"], store)
    look = run_stage(["sql", "--store", str(store),
                      f"SELECT * FROM {TABLE} WHERE patient_id = 'P{n // 2:06d}'"], store)
    if f"P{n // 2:06d}" not in look.pop("stdout"):
        raise RuntimeError("the patient lookup returned no row")
    agg.pop("stdout")
    return {"wall_s": agg["wall_s"] + look["wall_s"],
            "driver_peak_rss_mib": max(agg["driver_peak_rss_mib"], look["driver_peak_rss_mib"]),
            "store_bytes_added": agg["store_bytes_added"] + look["store_bytes_added"],
            "aggregate_s": agg["wall_s"], "lookup_s": look["wall_s"], "load_1min_end": look["load_1min_end"]}


def extraction(work: Path, patients: int, seed: int) -> dict[str, Any]:
    cohort = work / "images"
    synth = run_stage(["synth", str(cohort), "--patients", str(patients), "--seed", str(seed)], None)
    manifest = next(iter(sorted(cohort.glob("*manifest*.csv"))))
    store = work / "image_store"
    res = run_stage(["extract", str(manifest), "--store", str(store)], store, cwd=cohort)
    res.pop("stdout")
    return {"patients": patients, "synth_s": synth["wall_s"], **res}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=lambda s: [int(v) for v in s.split(",")], default=[1000, 10000])
    ap.add_argument("--features", type=int, default=100,
                    help="Features per sequence (x 6 sequences); the paper's full width is ~850.")
    ap.add_argument("--classifiers", default="lr,nb,lightgbm")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--images", type=int, default=100,
                    help="Patients of the synthetic image cohort extracted once (0 = skip; 200 "
                         "patients = 1,560 cases took 9 min on 2 loaded cores).")
    ap.add_argument("--stages", type=lambda s: [v.strip() for v in s.split(",") if v.strip()],
                    default=list(STAGES), help=f"Stages to run after the import (of {', '.join(STAGES)}; "
                    "score needs train).")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    unknown = sorted(set(args.stages) - set(STAGES))
    if unknown or ("score" in args.stages and "train" not in args.stages):
        ap.error(f"--stages: expected names of {', '.join(STAGES)} (score with train); got {args.stages}")
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPUs {os.cpu_count()}; "
          f"6 sequences x {args.features} features; tune {args.repeats} x {args.folds}, {args.classifiers}",
          flush=True)
    where = "import alnm_ray, os; print(os.path.dirname(alnm_ray.__file__))"
    code = subprocess.run([sys.executable, "-c", where], capture_output=True, text=True, env=ENV).stdout.strip()
    commit = subprocess.run(["git", "-C", code, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip() or "unknown (not a git checkout)"
    print(f"alnm_ray from {code} (commit {commit})", flush=True)
    result: dict[str, Any] = {"load_average_start": load, "features_per_sequence": args.features,
                              "alnm_ray": code, "commit": commit, "settings": vars(args), "sizes": {}}

    def save() -> None:
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=1, default=str), encoding="utf-8")
    with tempfile.TemporaryDirectory(prefix="alnm-bench-scale-") as tmp:
        work = Path(tmp)
        for n in args.patients:
            result["sizes"][n] = one_size(work, n, args)
            for stage, r in result["sizes"][n].items():
                print(f"  {n:>6} patients  {stage:<7} {r['wall_s']:8.1f} s  driver peak RSS "
                      f"{r['driver_peak_rss_mib']:7.0f} MiB  store +{r['store_bytes_added'] / 2**20:8.2f} MiB"
                      f"  (table in memory {r['table_mib']:.1f} MiB; load {r['load_1min_end']:.1f})",
                      flush=True)
            save()
        if args.images:
            result["extract"] = e = extraction(work, args.images, args.seed)
            print(f"  extract: {e['patients']} synthetic patients: {e['wall_s']:.1f} s, driver peak RSS "
                  f"{e['driver_peak_rss_mib']:.0f} MiB, store +{e['store_bytes_added'] / 2**20:.1f} MiB "
                  f"(synth {e['synth_s']:.1f} s)", flush=True)
            save()
    sizes = sorted(result["sizes"])
    if len(sizes) >= 2:
        lo, hi = result["sizes"][sizes[0]], result["sizes"][sizes[-1]]
        print(f"  growth {sizes[0]} -> {sizes[-1]} patients (x{sizes[-1] / sizes[0]:.0f}):", flush=True)
        growth = {}
        for stage in lo:
            growth[stage] = {k: hi[stage][k] / lo[stage][k] if lo[stage][k] else None
                             for k in ("wall_s", "driver_peak_rss_mib", "store_bytes_added")}
            g = growth[stage]
            print(f"    {stage:<7} wall x{g['wall_s']:.1f}  driver RSS x{g['driver_peak_rss_mib']:.1f}"
                  + (f"  store x{g['store_bytes_added']:.1f}" if g["store_bytes_added"] else ""), flush=True)
        result["growth"] = growth
    result["load_average_end"] = os.getloadavg()
    print(f"load average at end: {result['load_average_end'][0]:.2f}", flush=True)
    save()


if __name__ == "__main__":
    main()
