"""Benchmark: ``alnm-ray extract`` vs PyRadiomics's own batch command, side by side.

Same cases, same params file, same machine, one run::

    .venv/bin/python benchmarks/bench_extract.py --suite clinical --patients 8 --baseline-rev HEAD~1
    .venv/bin/python benchmarks/bench_extract.py --suite small --patients 10
    .venv/bin/python benchmarks/bench_extract.py --suite many --cases 2000

Suites:

* ``clinical``: every volume placed in a clinical-size matrix (``--canvas``,
  default 224 x 224 x 40 voxels at the sequence's own spacing), padding by
  reflection so that the filters see texture everywhere.
* ``small``: every volume cut to 48 x 48 x 16 voxels around its ROI (the
  fixed costs of a command show here).
* ``many``: the ``small`` cases repeated (as links under new case keys) up to
  ``--cases``: per-case overhead, driver memory and the files left behind.

What it runs, on the cases of a synthetic cohort (``alnm_ray.synth``,
``paper`` size, reader A, the four MRI sequences):

1. ``pyradiomics cases.csv --param P --jobs J`` for J = 1 and ``--cores``,
   without and with PyRadiomics's own ``preCrop: true`` (crop to the mask's
   bounding box plus the filters' padding before filtering: the same
   features, less work).  The peer's best is the fastest of these.
2. ``alnm-ray --num-cpus N extract`` (Original + Wavelet, binWidth 25, the
   ``crop only`` plan, so both tools must give the same features; the script
   checks that they do): as a user runs it (a small job runs on the local
   process pool), and with ``ALNM_RAY_LOCAL_MAX_CASES=0`` (always Ray).
3. With ``--baseline-rev REV``, the same command from that git revision (an
   exported copy put first on ``PYTHONPATH``): before/after in one run.

For each command: wall time, CPU utilisation (CPU seconds of the whole
process tree / (wall x cores)), peak memory of the process tree and of the
root process alone (sampled every 0.2 s).  Then the ratios: each of ours /
the peer's best, the compute stage / its ideal (sum of per-case times /
cores), the per-case overhead ((stage wall x cores - sum of per-case times)
/ cases, and (our wall - peer's best wall) / cases), and the files the store
holds afterwards.  Goals: <= 1.0x the peer's best on clinical-size cases,
<= 1.5x on small ones, <= 20 ms per case of overhead.

This is a benchmark, not a test: numbers depend on the machine and its load
(printed before and after).
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
PRECROP_PARAMS = {**PARAMS, "setting": {**PARAMS["setting"], "preCrop": True}}
SUITES = {"clinical": "224,224,40", "small": "48,48,16", "many": "48,48,16"}
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
    """Run ``cmd``; wall time, CPU seconds of the process tree, peak tree RSS and peak root RSS."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, env=env)
        peak, root_peak, cpu_by_pid, stop = [0], [0], {}, threading.Event()

        def poll() -> None:
            while not stop.is_set():
                total = 0
                for pid in _tree(proc.pid):
                    s = _sample(pid)
                    if s is not None:
                        total += s[0]
                        cpu_by_pid[pid] = max(cpu_by_pid.get(pid, 0.0), s[1])
                        if pid == proc.pid:
                            root_peak[0] = max(root_peak[0], s[0])
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
            "driver_peak_mb": root_peak[0] / 2**20, "log": str(log)}


# --- data -----------------------------------------------------------------------------------------
def fit(src: Path, dst: Path, canvas: tuple[int, int, int], is_mask: bool, centre: list[int] | None) -> list[int]:
    """Pad (by reflection; masks by zeros) or cut each axis to ``canvas`` (x, y, z voxels), keeping positions.

    A cut keeps the window centred on ``centre`` (z, y, x voxel of the ROI), clamped to the volume.
    Returns the ROI centre it used (the mask's bounding-box centre when ``centre`` is None).
    """
    img = sitk.ReadImage(str(src))
    arr = sitk.GetArrayFromImage(img)
    if centre is None:
        idx = np.argwhere(arr > 0)
        centre = [int(v) for v in ((idx.min(0) + idx.max(0)) // 2)] if len(idx) else [n // 2 for n in arr.shape]
    pads, start = [], []
    for axis, (n, c) in enumerate(zip(arr.shape, canvas[::-1])):
        if c >= n:
            extra = c - n
            pads.append((extra // 2, extra - extra // 2))
            start.append(0)
        else:
            pads.append((0, 0))
            start.append(int(min(max(centre[axis] - c // 2, 0), n - c)))
    arr = arr[tuple(slice(b, b + min(c, n)) for b, n, c in zip(start, arr.shape, canvas[::-1]))]
    out_arr = np.pad(arr, pads, mode="constant" if is_mask else "reflect")
    out = sitk.GetImageFromArray(out_arr)
    out.SetSpacing(img.GetSpacing())
    out.SetDirection(img.GetDirection())
    offset = np.array(start[::-1], dtype=float) - [p[0] for p in pads[::-1]]  # x, y, z voxels
    shift = np.array(img.GetDirection()).reshape(3, 3) @ (np.array(img.GetSpacing()) * offset)
    out.SetOrigin(tuple(np.array(img.GetOrigin()) + shift))
    sitk.WriteImage(out, str(dst), True)
    return centre


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
            centre = fit(msk, new_msk, canvas, True, None)
            fit(img, new_img, canvas, False, centre)
            img, msk = new_img, new_msk
        df.at[i, "image"], df.at[i, "mask"] = str(img.resolve()), str(msk.resolve())
    return df


def repeat_cases(df: pd.DataFrame, n: int, out: Path) -> pd.DataFrame:
    """``n`` cases cycling through ``df``'s, each under its own patient id and file names (symbolic links)."""
    links = out / "links"
    links.mkdir(exist_ok=True)
    rows = []
    for i in range(n):
        row = df.iloc[i % len(df)].to_dict()
        pid = f"R{i:05d}"
        for col in ("image", "mask"):
            link = links / f"{pid}_{col}.nii.gz"
            if not link.exists():
                link.symlink_to(row[col])
            row[col] = str(link)
        rows.append({**row, "patient_id": pid})
    return pd.DataFrame(rows)


# --- comparison -------------------------------------------------------------------------------------
def compare_features(peer_csv: Path, ours: pd.DataFrame, manifest: pd.DataFrame) -> tuple[int, float]:
    """Number of values compared and the largest relative difference."""
    peer = pd.read_csv(peer_csv).copy()
    key_of = dict(zip(manifest["image"], manifest["patient_id"] + "/" + manifest["sequence"]))
    peer.index = pd.Index(peer["Image"].map(key_of), name="key")
    ours = ours.assign(key=ours["patient_id"].astype(str) + "/" + ours["sequence"].astype(str)).set_index("key")
    names = [c for c in peer.columns if c in ours.columns and not c.startswith("diagnostics_")]
    a = peer.loc[ours.index, names].apply(lambda s: pd.to_numeric(s.astype(str).str.replace("j)", "").str.strip("("),
                                                                   errors="coerce")).to_numpy(float)
    b = ours[names].to_numpy(float)
    denom = np.where(np.abs(a) > 1e-12, np.abs(a), 1.0)
    rel = np.abs(a - b) / denom
    return int(np.isfinite(rel).sum()), float(np.nanmax(rel))


def load_avg() -> str:
    return " ".join(f"{v:.1f}" for v in os.getloadavg())


def export_revision(rev: str, dest: Path, paths: list[str]) -> Path:
    """This tree's package with ``paths`` as they were at git revision ``rev`` (no git state changed).

    Only ``paths`` go back in time, so the comparison isolates them from
    unrelated (possibly uncommitted) work elsewhere in the package.
    """
    root = Path(__file__).resolve().parents[1]
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(root / "alnm_ray", dest / "alnm_ray", ignore=shutil.ignore_patterns("__pycache__"))
    archive = subprocess.run(["git", "-C", str(root), "archive", rev, *paths], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--suite", choices=sorted(SUITES), default="clinical")
    ap.add_argument("--patients", type=int, default=8, help="synthetic patients (x 4 MRI cases each)")
    ap.add_argument("--cases", type=int, default=2000, help="--suite many: cases in the batch")
    ap.add_argument("--cores", type=int, default=2, help="CPUs for both tools")
    ap.add_argument("--canvas", default=None, help="x,y,z voxels of each volume (default: the suite's), 0 to keep")
    ap.add_argument("--peer", default=None, help="comma-separated subset of jobs1,jobs2,precrop1,precrop2 "
                                                 "(default: all; --suite many: precrop2; none: no peer)")
    ap.add_argument("--baseline-rev", default=None, help="also run `extract` with --baseline-paths as they were "
                                                         "at this git revision")
    ap.add_argument("--baseline-paths", nargs="+", default=["alnm_ray/extract", "alnm_ray/table_job.py"],
                    help="what goes back to --baseline-rev (default: the extraction job and the table flow)")
    ap.add_argument("--no-ray-path", action="store_true", help="skip the ALNM_RAY_LOCAL_MAX_CASES=0 run")
    ap.add_argument("--local-path", action="store_true", help="also run with the local path for any size")
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--json", default=None, help="also write the results to this file")
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one, removed)")
    args = ap.parse_args(argv)
    venv_bin = Path(sys.executable).parent
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="bench_extract_"))
    out.mkdir(parents=True, exist_ok=True)
    spec = args.canvas if args.canvas is not None else SUITES[args.suite]
    canvas = None if spec in ("0", "") else tuple(int(v) for v in spec.split(","))
    t0 = time.perf_counter()
    df = make_cases(out, args.patients, args.seed, canvas)
    if args.suite == "many":
        df = repeat_cases(df, args.cases, out)
    print(f"suite {args.suite}: {len(df)} cases, canvas {canvas}; data ready in {time.perf_counter() - t0:.0f} s; "
          f"load average {load_avg()}", flush=True)
    df.to_csv(out / "manifest.csv", index=False)
    pd.DataFrame({"ID": df["patient_id"] + "_" + df["sequence"], "Image": df["image"],
                  "Mask": df["mask"]}).to_csv(out / "cases.csv", index=False)
    (out / "params.yaml").write_text(yaml.safe_dump(PARAMS), encoding="utf-8")
    (out / "params_precrop.yaml").write_text(yaml.safe_dump(PRECROP_PARAMS), encoding="utf-8")
    (out / "crop.yaml").write_text(yaml.safe_dump(CROP_ONLY), encoding="utf-8")
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS="1")
    env.pop("ALNM_RAY_LOCAL_MAX_CASES", None)
    peers = {f"jobs{j}": (j, "params.yaml") for j in sorted({1, args.cores})}
    peers.update({f"precrop{j}": (j, "params_precrop.yaml") for j in sorted({1, args.cores})})
    wanted = [t for t in (args.peer or ("precrop2" if args.suite == "many" else ",".join(peers))).split(",")
              if t and t != "none"]
    results: dict[str, dict] = {}
    reports: dict[str, dict] = {}
    for tag in wanted:
        jobs, params = peers[tag]
        name = f"pyradiomics --jobs {jobs}" + (" preCrop" if params != "params.yaml" else "")
        (out / f"peer_{tag}.csv").unlink(missing_ok=True)
        cmd = [str(venv_bin / "pyradiomics"), "cases.csv", "--param", params, "--jobs", str(jobs),
               "-o", f"peer_{tag}.csv", "-f", "csv"]
        results[name] = run_measured(cmd, cwd=out, log=out / f"peer_{tag}.log", env=env)
        results[name]["csv"] = str(out / f"peer_{tag}.csv")
        print(f"{name}: {results[name]['wall_s']:.1f} s (load {load_avg()})", flush=True)
    ours_runs = [("alnm-ray extract", env)]
    if not args.no_ray_path:
        ours_runs.append(("alnm-ray extract (Ray path)", dict(env, ALNM_RAY_LOCAL_MAX_CASES="0")))
    if args.local_path:
        ours_runs.append(("alnm-ray extract (local path)", dict(env, ALNM_RAY_LOCAL_MAX_CASES=str(10**9))))
    if args.baseline_rev:
        old = export_revision(args.baseline_rev, out / "baseline", args.baseline_paths)
        ours_runs.append((f"alnm-ray extract @{args.baseline_rev}",
                          dict(env, PYTHONPATH=os.pathsep.join([str(old), env.get("PYTHONPATH", "")]))))
    from alnm_ray.store import FeatureStore

    tables = {}
    for i, (name, run_env) in enumerate(ours_runs):
        store = out / f"store{i}"
        shutil.rmtree(store, ignore_errors=True)
        cmd = [str(sys.executable), "-c", "from alnm_ray.cli.main import cli; cli()", "--num-cpus",
               str(args.cores), "--quiet", "extract", "manifest.csv", "--store", store.name, "--params",
               "params.yaml", "--preprocess", "crop.yaml", "--report-json", f"ours{i}.json"]
        results[name] = run_measured(cmd, cwd=out, log=out / f"ours{i}.log", env=run_env)
        reports[name] = json.loads((out / f"ours{i}.json").read_text(encoding="utf-8"))
        results[name]["files_left"] = sum(len(files) for _, _, files in os.walk(store))
        tables[name] = FeatureStore(store).read("radiomics").to_pandas()
        print(f"{name}: {results[name]['wall_s']:.1f} s (load {load_avg()})", flush=True)

    peer_names = [k for k in results if k.startswith("pyradiomics")]
    best = min(peer_names, key=lambda k: results[k]["wall_s"]) if peer_names else None
    n = len(df)
    print(f"\n{n} cases, {args.cores} cores; load average at the end {load_avg()}")
    print(f"{'command':<40}{'wall s':>8}{'CPU s':>8}{'CPU util':>9}{'tree MB':>9}{'root MB':>9}{'rc':>4}{'/ best':>8}")
    for name, r in results.items():
        util = r["cpu_s"] / (r["wall_s"] * args.cores)
        ratio = r["wall_s"] / results[best]["wall_s"] if best else float("nan")
        r["ratio_to_peer_best"] = ratio
        print(f"{name:<40}{r['wall_s']:>8.1f}{r['cpu_s']:>8.1f}{util:>9.0%}{r['peak_rss_mb']:>9.0f}{r['driver_peak_mb']:>9.0f}"
              f"{r['rc']:>4}{ratio:>8.2f}")
    print(f"\npeer's best: {best}")
    for name, rep in reports.items():
        per_case = sum(rep["case_seconds"])
        stage = rep["ray_seconds"]
        ideal = per_case / args.cores
        r = results[name]
        r.update(path=rep.get("path", "ray"), stage_s=stage, ideal_s=ideal, ray_start_s=rep["ray_start_seconds"],
                 stage_overhead_ms=1000 * (stage * args.cores - per_case) / max(1, len(rep["case_seconds"])),
                 command_overhead_ms=1000 * (r["wall_s"] - results[best]["wall_s"]) / n if best else None)
        msg = (f"{name}: path {r['path']}, stage {stage:.1f} s vs ideal {ideal:.1f} s ({stage / ideal:.2f}x), "
               f"Ray start {rep['ray_start_seconds']:.1f} s, overhead {r['stage_overhead_ms']:.0f} ms/case in the "
               f"stage")
        if best:
            msg += f", {r['command_overhead_ms']:.0f} ms/case over {best}"
        print(msg + f"; store files left: {r['files_left']}")
    if best and args.suite != "many":
        for name, table in tables.items():
            n_cmp, worst = compare_features(Path(results[best]["csv"]), table, df)
            results[name]["max_rel_diff"] = worst
            print(f"{name}: {n_cmp} values compared with {best}, max relative difference {worst:.1e}")
    names = list(tables)
    for other in names[1:]:
        a, b = (tables[k].sort_values(["patient_id", "sequence"]).reset_index(drop=True) for k in (names[0], other))
        feats = [c for c in a.columns if c in b.columns and a[c].dtype.kind == "f"]
        same = bool(np.array_equal(a[feats].to_numpy(), b[feats].to_numpy(), equal_nan=True))
        print(f"{other} vs {names[0]}: {len(feats)} feature columns, identical: {same}")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "cases": n, "results": results}, indent=1))
    print(f"work folder {out}")
    if not args.out:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
