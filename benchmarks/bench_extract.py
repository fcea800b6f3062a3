"""Benchmark: ``alnm-ray extract`` vs PyRadiomics's own batch command, side by side.

Same cases, same params file, same machine, one run::

    .venv/bin/python benchmarks/bench_extract.py --patients 40 --cores 2

What it does:

1. Generates a synthetic cohort (``alnm_ray.synth``, ``paper`` size, reader A
   only) and keeps its four MRI sequences (T2WI, DWI, ADC, DCE_P2).
2. Places every volume in a clinical-size matrix (``--canvas``, default
   224 x 224 x 40 voxels at the sequence's own spacing: a 157-235 mm field of
   view instead of the generator's 72 mm), padding by reflection so that the
   filters see texture everywhere and the ROI covers a realistic fraction of
   the image.  ``--canvas 0`` keeps the generator's small volumes.
3. Writes one PyRadiomics params file (Original + Wavelet, every feature
   class, binWidth 25) and our preprocessing plan ``crop only`` (no N4, no
   normalisation, no resampling), so both tools must give the same features;
   the script checks that they do.
4. Runs ``pyradiomics cases.csv --param P --jobs 1`` and ``--jobs 2`` (the peer's
   best of the two is the reference: its pool hands out chunks of up to 10
   cases) and ``alnm-ray --num-cpus N extract``; for each: wall time, CPU
   utilisation (CPU seconds of the whole process tree / (wall x cores)) and
   peak memory (largest sum of RSS over the process tree, sampled every 0.2 s).
5. Prints the ratios: ours / peer best (goal <= 0.65 on 2 cores) and our Ray
   stage / ideal, the ideal being the sum of the per-case times measured in the
   workers divided by the cores (goal <= 1.2).

This is a benchmark, not a test: numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import SimpleITK as sitk
import yaml

MRI = ("T2WI", "DWI", "ADC", "DCE_P2")
PARAMS = {"imageType": {"Original": {}, "Wavelet": {}}, "setting": {"binWidth": 25}}
CROP_ONLY = {"name": "crop-only", "default": {"crop": True}, "sequences": {}}
PAGE = os.sysconf("SC_PAGE_SIZE")
TICKS = os.sysconf("SC_CLK_TCK")


# --- process-tree sampling (Linux /proc; no psutil needed) -------------------------------------
def _children_map() -> dict[int, list[int]]:
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            kids.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    return kids


def _tree(root: int) -> list[int]:
    kids, out, todo = _children_map(), [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(kids.get(pid, []))
    return out


def _sample(pid: int) -> tuple[int, float] | None:
    try:
        with open(f"/proc/{pid}/statm") as fh:
            rss = int(fh.read().split()[1]) * PAGE
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return rss, (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime of the process itself
    except (OSError, IndexError, ValueError):
        return None


def run_measured(cmd: list[str], *, cwd: Path, log: Path, env: dict[str, str] | None = None) -> dict:
    """Run ``cmd``; wall time, CPU seconds of the process tree, peak tree RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak, cpu_by_pid, stop = [0], {}, threading.Event()

        def poll() -> None:
            while not stop.is_set():
                total = 0
                for pid in _tree(proc.pid):
                    s = _sample(pid)
                    if s is not None:
                        total += s[0]
                        cpu_by_pid[pid] = max(cpu_by_pid.get(pid, 0.0), s[1])
                peak[0] = max(peak[0], total)
                stop.wait(0.2)

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        rc = proc.wait()
        stop.set()
        thread.join()
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    cpu = max(reaped, sum(cpu_by_pid.values()))
    return {"cmd": " ".join(cmd), "rc": rc, "wall_s": wall, "cpu_s": cpu, "peak_rss_mb": peak[0] / 2**20,
            "log": str(log)}


# --- data -----------------------------------------------------------------------------------------
def widen(src: Path, dst: Path, canvas: tuple[int, int, int], is_mask: bool) -> None:
    """Pad a volume to ``canvas`` (x, y, z voxels) around its centre, keeping physical positions."""
    img = sitk.ReadImage(str(src))
    arr = sitk.GetArrayFromImage(img)
    pads = []
    for n, c in zip(arr.shape, canvas[::-1]):
        extra = max(0, c - n)
        pads.append((extra // 2, extra - extra // 2))
    out_arr = np.pad(arr, pads, mode="constant" if is_mask else "reflect")
    out = sitk.GetImageFromArray(out_arr)
    out.SetSpacing(img.GetSpacing())
    out.SetDirection(img.GetDirection())
    shift = np.array(img.GetDirection()).reshape(3, 3) @ (np.array(img.GetSpacing()) * [p[0] for p in pads[::-1]])
    out.SetOrigin(tuple(np.array(img.GetOrigin()) - shift))
    sitk.WriteImage(out, str(dst), True)


def make_cases(out: Path, patients: int, seed: int, canvas: tuple[int, int, int] | None) -> pd.DataFrame:
    from alnm_ray.synth import SynthConfig, generate_cohort

    info = generate_cohort(out / "synth", SynthConfig(patients=patients, centers=2, seed=seed, size="paper",
                                                      n_repeat_readers=0), parallel="serial", quiet=True)
    df = pd.read_csv(info.manifest)
    df = df[df["sequence"].isin(MRI) & (df["reader"] == "A")].reset_index(drop=True)
    base = info.manifest.parent
    cases = out / "cases"
    cases.mkdir(exist_ok=True)
    for i, row in df.iterrows():
        img, msk = base / row["image"], base / row["mask"]
        if canvas:
            new_img = cases / f"{row['patient_id']}_{row['sequence']}.nii.gz"
            new_msk = cases / f"{row['patient_id']}_{row['sequence']}_mask.nii.gz"
            widen(img, new_img, canvas, False)
            widen(msk, new_msk, canvas, True)
            img, msk = new_img, new_msk
        df.at[i, "image"], df.at[i, "mask"] = str(img.resolve()), str(msk.resolve())
    return df


# --- comparison -------------------------------------------------------------------------------------
def compare_features(peer_csv: Path, ours: pd.DataFrame, manifest: pd.DataFrame) -> tuple[int, float]:
    """Number of values compared and the largest relative difference."""
    peer = pd.read_csv(peer_csv)
    peer = peer.copy()
    peer["key"] = peer["Image"].map(dict(zip(manifest["image"], manifest["patient_id"] + "/" + manifest["sequence"])))
    ours = ours.assign(key=ours["patient_id"].astype(str) + "/" + ours["sequence"].astype(str)).set_index("key")
    peer = peer.set_index("key")
    names = [c for c in peer.columns if c in ours.columns and not c.startswith("diagnostics_")]
    a = peer.loc[ours.index, names].apply(lambda s: pd.to_numeric(s.astype(str).str.replace("j)", "").str.strip("("),
                                                                   errors="coerce")).to_numpy(float)
    b = ours[names].to_numpy(float)
    denom = np.where(np.abs(a) > 1e-12, np.abs(a), 1.0)
    rel = np.abs(a - b) / denom
    return int(np.isfinite(rel).sum()), float(np.nanmax(rel))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=40, help="synthetic patients (x 4 MRI cases each)")
    ap.add_argument("--cores", type=int, default=2, help="CPUs for both tools")
    ap.add_argument("--canvas", default="224,224,40", help="x,y,z voxels of each volume, or 0 to keep")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    root = Path(__file__).resolve().parents[1]
    venv_bin = Path(sys.executable).parent
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_extract_"))
    out.mkdir(parents=True, exist_ok=True)
    canvas = None if args.canvas in ("0", "") else tuple(int(v) for v in args.canvas.split(","))
    t0 = time.perf_counter()
    df = make_cases(out, args.patients, args.seed, canvas)
    print(f"{len(df)} cases ({args.patients} patients x {len(MRI)} MRI sequences), canvas {canvas}; "
          f"data ready in {time.perf_counter() - t0:.0f} s", flush=True)
    df.to_csv(out / "manifest.csv", index=False)
    pd.DataFrame({"ID": df["patient_id"] + "_" + df["sequence"], "Image": df["image"],
                  "Mask": df["mask"]}).to_csv(out / "cases.csv", index=False)
    (out / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    (out / "crop.yaml").write_text(yaml.safe_dump(CROP_ONLY), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="1")
    results = {}
    for jobs in sorted({1, args.cores}):
        cmd = [str(venv_bin / "pyradiomics"), "cases.csv", "--param", "params.yaml", "--jobs", str(jobs),
               "-o", f"peer_jobs{jobs}.csv", "-f", "csv"]
        (out / f"peer_jobs{jobs}.csv").unlink(missing_ok=True)
        results[f"pyradiomics --jobs {jobs}"] = run_measured(cmd, cwd=out, log=out / f"peer_jobs{jobs}.log", env=env)
        print(f"pyradiomics --jobs {jobs}: {results[f'pyradiomics --jobs {jobs}']['wall_s']:.1f} s", flush=True)
    shutil.rmtree(out / "store", ignore_errors=True)
    cmd = [str(venv_bin / "alnm-ray"), "--num-cpus", str(args.cores), "--quiet", "extract", "manifest.csv",
           "--store", "store", "--params", "params.yaml", "--preprocess", "crop.yaml",
           "--report-json", "ours.json"]
    results["alnm-ray extract"] = ours = run_measured(cmd, cwd=out, log=out / "ours.log", env=env)
    report = json.loads((out / "ours.json").read_text(encoding="utf-8"))
    print(f"alnm-ray extract: {ours['wall_s']:.1f} s", flush=True)

    from alnm_ray.store import FeatureStore

    table = FeatureStore(out / "store").read("radiomics").to_pandas()
    best_name = min((k for k in results if k.startswith("pyradiomics")), key=lambda k: results[k]["wall_s"])
    n_cmp, worst = compare_features(out / f"peer_jobs{best_name.rsplit(' ', 1)[1]}.csv", table, df)
    ideal = sum(report["case_seconds"]) / args.cores
    print(f"\n{'command':<24}{'wall s':>9}{'CPU util':>10}{'peak MB':>10}{'rc':>4}")
    for name, r in results.items():
        util = r["cpu_s"] / (r["wall_s"] * args.cores)
        print(f"{name:<24}{r['wall_s']:>9.1f}{util:>10.0%}{r['peak_rss_mb']:>10.0f}{r['rc']:>4}")
    print(f"\nours / peer best ({best_name}): {ours['wall_s'] / results[best_name]['wall_s']:.2f}  (goal <= 0.65)")
    print(f"ours Ray stage {report['ray_seconds']:.1f} s vs ideal {ideal:.1f} s (sum of {len(report['case_seconds'])} "
          f"per-case times / {args.cores} cores): {report['ray_seconds'] / ideal:.2f}  (goal <= 1.2)")
    print(f"ours whole command / ideal: {ours['wall_s'] / ideal:.2f} (includes Ray start-up "
          f"{report['ray_start_seconds']:.1f} s, hashing, store write)")
    print(f"features: {n_cmp} values compared with PyRadiomics's output, max relative difference {worst:.1e}")
    print(f"cases: {report['cases']} ({report['done']} done, {report['failed']} failed); work folder {out}")
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
