"""Measure radiomics extraction capacity (cases per hour per CPU) on a synthetic cohort.

The figures in deploy/README.md ("Capacity") come from this script::

    python deploy/capacity.py --patients 4 --size paper --out /tmp/alnm-capacity
    python deploy/capacity.py --patients 4 --size paper --out /tmp/alnm-capacity --ray-cpus 2
    python deploy/capacity.py --manifest cohort/manifest.csv --sample 30 --out /tmp/alnm-capacity

1. Writes a synthetic cohort (``alnm_ray.synth``; six sequences per patient),
   or takes a seeded random sample of the rows of your own ``--manifest``.
2. Times the per-case kernel every Ray worker runs
   (:func:`alnm_ray.extract.case.process_case`: read, preprocess, PyRadiomics)
   serially in this process with one BLAS/OpenMP/ITK thread, as a Ray task
   gets: seconds per case, per sequence -> cases per hour per CPU.
3. With ``--ray-cpus N``: runs the real ``alnm-ray --num-cpus N extract`` on
   the same cohort and reports the end-to-end rate, Ray overhead included.

Per-case cost grows with the ROI's voxel count and the filters in the params;
re-measure on a sample of your own images before sizing a cluster.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

# One thread per numerical library, as alnm_ray.runtime gives every Ray worker.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS",
             "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS"):
    os.environ[_var] = "1"


def time_cases(manifest: Path, preset: str, sample: int = 0,
               seed: int = 0) -> list[tuple[str, float, float, bool]]:
    """``(sequence, wall s, CPU s, ok)`` per case; the first case runs once more as a warm-up.

    CPU seconds (this process, one thread) are what a dedicated core spends;
    wall seconds also count waiting for a shared machine's other work.
    """
    import logging
    import warnings

    import radiomics

    from alnm_ray.extract.case import process_case
    from alnm_ray.extract.params import load_params
    from alnm_ray.manifest import read_manifest
    from alnm_ray.preprocess.config import load_plan

    radiomics.setVerbosity(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, plan = load_params(preset), load_plan(preset)
    df = read_manifest(str(manifest), check_files=False)
    if sample and sample < len(df):
        df = df.sample(n=sample, random_state=seed)
    rows = df.to_dict("records")
    process_case(rows[0], plan, params)  # imports, PyWavelets/SimpleITK first-call costs
    out = []
    for row in rows:
        t0, c0 = time.perf_counter(), time.process_time()
        result = process_case(row, plan, params)
        out.append((str(row["sequence"]), time.perf_counter() - t0, time.process_time() - c0, result.ok))
    return out


def summarise(timings: list[tuple[str, float, float, bool]]) -> dict[str, dict[str, float]]:
    """Per sequence and overall: n, wall and CPU seconds, cases/hour/CPU (from the mean CPU time)."""
    groups: dict[str, list[tuple[float, float]]] = {}
    for seq, wall, cpu, ok in timings:
        if ok:
            groups.setdefault(seq, []).append((wall, cpu))
            groups.setdefault("all", []).append((wall, cpu))
    out = {}
    for seq, v in groups.items():
        walls, cpus = [w for w, _ in v], [c for _, c in v]
        out[seq] = {"n": len(v), "mean_wall_s": statistics.fmean(walls), "mean_cpu_s": statistics.fmean(cpus),
                    "median_cpu_s": statistics.median(cpus),
                    "cases_per_hour_per_cpu": 3600.0 / statistics.fmean(cpus)}
    return out


def run_cli(manifest: Path, store: Path, report: Path, cpus: int, preset: str) -> dict[str, float]:
    """The real ``alnm-ray extract`` on an embedded Ray with ``cpus`` CPUs."""
    env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
    cli = str(Path(sys.executable).with_name("alnm-ray"))
    t0 = time.perf_counter()
    subprocess.run([cli, "--num-cpus", str(cpus), "--quiet", "extract", str(manifest), "--store", str(store),
                    "--preset", preset, "--report-json", str(report)], check=True, env=env)
    wall = time.perf_counter() - t0
    data = json.loads(report.read_text(encoding="utf-8"))
    cases = data["computed"]
    return {"cases": cases, "cpus": cpus, "wall_s": wall, "ray_s": data["ray_seconds"],
            "cases_per_hour_per_cpu_ray_stage": cases * 3600.0 / (data["ray_seconds"] * cpus),
            "cases_per_hour_per_cpu_wall": cases * 3600.0 / (wall * cpus)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, default=None,
                        help="time rows of this manifest instead of a synthetic cohort")
    parser.add_argument("--sample", type=int, default=30, help="rows of --manifest to time (0: all)")
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--size", choices=["small", "paper"], default="paper")
    parser.add_argument("--preset", default="guo2024")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--ray-cpus", type=int, default=0, help="also run `alnm-ray extract` on N CPUs")
    parser.add_argument("--out", type=Path, required=True, help="working folder (cohort, store, results)")
    ns = parser.parse_args(argv)

    ns.out.mkdir(parents=True, exist_ok=True)
    if ns.manifest is not None:
        manifest, label = ns.manifest.resolve(), f"manifest {ns.manifest} (sample {ns.sample or 'all'})"
    else:
        from alnm_ray.synth import SynthConfig, generate_cohort

        cohort = ns.out / f"cohort-{ns.size}-{ns.patients}"
        if not (cohort / "manifest.csv").is_file():
            generate_cohort(cohort, SynthConfig(patients=ns.patients, centers=min(2, ns.patients), seed=ns.seed,
                                                size=ns.size, n_repeat_readers=0), parallel="serial", quiet=True)
        manifest, label = cohort / "manifest.csv", f"synthetic {ns.size}, {ns.patients} patients"
    result: dict[str, object] = {"cases": label, "preset": ns.preset,
                                 "serial": summarise(time_cases(manifest, ns.preset,
                                                                ns.sample if ns.manifest else 0, ns.seed))}
    if ns.ray_cpus:
        store = ns.out / f"store-{time.strftime('%Y%m%d-%H%M%S')}"
        result["ray"] = run_cli(manifest, store, ns.out / "extract-report.json", ns.ray_cpus, ns.preset)
    # Peak resident memory of this process: what one Ray task needs, for sizing memory per CPU.
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result, indent=1))
    (ns.out / "capacity.json").write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
