"""Benchmark: batch scoring with a frozen bundle.

Part 1 -- stored features, whole processes side by side.  A synthetic store
holds a training cohort (``--train`` patients) and a new, unlabelled cohort of
``--patients`` patients (default 200 000) x 2 sequences x ``--features``
radiomics features per sequence (default 20: 40 model inputs), written to the
Delta table in chunks.  A bundle is trained on the training cohort, then the
new cohort is scored two ways, each as its own process (start-up included):

* ``alnm-ray score BUNDLE --features radiomics@V --cohort new`` -- the whole
  CLI: signature and checksums, streaming read of the Delta snapshot (only
  the bundle's columns), widening, schema and drift checks, prediction (in
  process below ``ALNM_RAY_SCORE_LOCAL_MAX_ROWS`` stored rows, else Ray),
  predictions Parquet, reports and a ``predictions`` store version;
* the plain script -- ``pickle.load`` of the fitted pipeline,
  ``pandas.read_parquet`` of the same patients' wide features (one file,
  written beforehand), ``predict_proba``, ``to_parquet``.

Reported: wall seconds of each, their ratio (goal: CLI <= 2x the script),
the CLI's driver peak RSS (``/usr/bin/time -v``, else psutil polling), and
that both give the same probabilities.  ``--rss-patients 2000000`` repeats the
CLI run at that size, in process and through Ray, for its peak RSS (slow:
minutes to write the store; ``--workdir DIR`` keeps the stores, the bundle and
the key pair for later runs).  The load average is printed with each.

Part 2 -- end-to-end seconds per new case from images (``--image-patients``,
0 to skip): tiny synthetic T2WI cases are extracted with the bundle's
PyRadiomics params (``--image-params tiny`` or ``guo2024``), then scored;
a second run of the same manifest shows the cached path.

Usage::

    .venv/bin/python benchmarks/bench_score.py                          # 200 000 patients, no images
    .venv/bin/python benchmarks/bench_score.py --rss-patients 2000000   # also the driver RSS at 2M
    .venv/bin/python benchmarks/bench_score.py --workdir /tmp/bench --repeat 3  # stores kept, best of 3
    .venv/bin/python benchmarks/bench_score.py --patients 20000 --image-patients 8 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from alnm_ray.runtime import RayConfig, ray_session  # noqa: E402
from alnm_ray.score.bundle import load_bundle  # noqa: E402
from alnm_ray.score.job import ScoreOptions, score_manifests  # noqa: E402
from alnm_ray.score.train import TrainConfig, train_bundle  # noqa: E402
from alnm_ray.store import FeatureStore  # noqa: E402

SEQUENCES = ("T2WI", "ADC")
SELECTION = {"preset": "guo2024", "icc_threshold": None, "lasso_repeats": 3, "lasso_folds": 5}
TINY_PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "glcm": None},
               "setting": {"binWidth": 25, "label": 1}}
#: Patients generated and written per chunk (bounds the benchmark's own memory).
CHUNK = 200_000
#: The plain script the CLI is compared with (run as its own process, like the CLI).
PLAIN_SCRIPT = """
import pickle, sys
import pandas as pd
model = pickle.load(open(sys.argv[1], "rb"))
wide = pd.read_parquet(sys.argv[2])
features = [c for c in wide.columns if "__" in c]
proba = model.predict_proba(wide[features])[:, 1]
pd.DataFrame({"patient_id": wide["patient_id"], "probability": proba,
              "predicted_label": (proba >= float(sys.argv[4])).astype(int)}).to_parquet(sys.argv[3], index=False)
"""


def long_table(first: int, n: int, n_features: int, cohort: str, seed: int, split: str | None,
               labelled: bool = True) -> pa.Table:
    """Patients ``first .. first+n-1``: one row per (patient, sequence), reader A; features 0-1 carry the label."""
    rng = np.random.default_rng([seed, first])
    y = (rng.random(n) < 0.433).astype(np.int64)
    patient = np.repeat(np.arange(n), len(SEQUENCES))
    rows = n * len(SEQUENCES)
    values = rng.normal(size=(rows, n_features))
    values[:, 0] += 1.2 * y[patient]
    values[:, 1] -= 0.8 * y[patient]
    ids = np.char.add(f"{cohort}-", np.char.zfill((patient + first).astype(str), 7))
    cols: dict[str, Any] = {
        "cohort": pa.array(np.full(rows, cohort)), "center": pa.array(np.char.add("C", ((patient + first) % 5).astype(str))),
        "patient_id": pa.array(ids), "sequence": pa.array(np.tile(np.array(SEQUENCES), n)),
        "reader": pa.array(np.full(rows, "A")),
        "label": pa.array(y[patient] if labelled else np.full(rows, None, dtype=object), pa.int64()),
        "split": pa.array(np.full(rows, split or "")),
    }
    for j in range(n_features):
        cols[f"original_firstorder_f{j:03d}"] = pa.array(values[:, j])
    return pa.table(cols)


def build_store(root: Path, n: int, args: argparse.Namespace) -> tuple[FeatureStore, str, float]:
    """Training cohort + ``n`` new patients written in chunks; (store, version id, seconds).

    With ``--workdir`` a store written before with the same sizes and seed is reused (0 seconds).
    """
    marker = root.with_suffix(".json")
    spec = {"patients": n, "train": args.train, "features": args.features, "seed": args.seed}
    if marker.exists() and root.exists():
        saved = json.loads(marker.read_text(encoding="utf-8"))
        if saved.get("spec") == spec:
            return FeatureStore(root), str(saved["version"]), 0.0
        shutil.rmtree(root)
    store = FeatureStore(root)
    t0 = time.perf_counter()

    def batches():
        yield from long_table(0, args.train, args.features, "train_c", args.seed, "train").to_batches()
        for first in range(0, n, CHUNK):
            yield from long_table(first, min(CHUNK, n - first), args.features, "new", args.seed + 1, None,
                                  labelled=False).to_batches()

    info = store.write_version("radiomics", batches())
    marker.write_text(json.dumps({"spec": spec, "version": info.version}), encoding="utf-8")
    return store, info.version, time.perf_counter() - t0


def _peak_rss_mb(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """Run ``cmd``; (wall seconds, peak RSS in MB, output)."""
    t0 = time.perf_counter()
    if shutil.which("time") or os.path.exists("/usr/bin/time"):
        done = subprocess.run(["/usr/bin/time", "-v", *cmd], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
        return wall, (int(found.group(1)) / 1024 if found else float("nan")), done.stdout
    import psutil

    proc = psutil.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    peak = 0
    while proc.poll() is None:
        try:
            peak = max(peak, proc.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.05)
    out = proc.stdout.read() if proc.stdout else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}")
    return time.perf_counter() - t0, peak / 2**20, out


def run_cli(store: FeatureStore, version: str, bundle: Path, out: Path, env: dict[str, str], batch_size: int
            ) -> tuple[float, float, str]:
    """``alnm-ray score --features`` as its own process; (wall seconds, peak RSS MB, output)."""
    local = Path(sys.executable).parent / "alnm-ray"
    cli = str(local) if local.exists() else (shutil.which("alnm-ray") or "alnm-ray")
    cmd = [cli, "--quiet", "score", str(bundle), "--features", f"radiomics@{version}", "--store", str(store.uri),
           "--cohort", "new", "--out", str(out), "--n-boot", "100", "--batch-size", str(batch_size)]
    return _peak_rss_mb(cmd, env)


def _timed(fn: Any, repeat: int) -> list[Any]:
    """``fn()`` ``repeat`` times; its results."""
    return [fn() for _ in range(max(1, repeat))]


def bench_features(args: argparse.Namespace, root: Path, env: dict[str, str]) -> dict[str, Any]:
    import pickle

    load_before = os.getloadavg()
    store, version, t_store = build_store(root / "store", args.patients, args)
    t0 = time.perf_counter()
    if not (root / "bundle").exists():  # a --workdir keeps the bundle of an earlier run
        train_bundle(store, TrainConfig("radiomics", args.classifier, selection=SELECTION, seed=args.seed,
                                        cohorts=("train_c",)), str(root / "bundle"))
    t_train = time.perf_counter() - t0
    bundle = load_bundle(root / "bundle")
    print(f"store: {args.patients} new + {args.train} training patients x {len(SEQUENCES)} sequences x "
          f"{args.features} features written in {t_store:.1f} s; bundle {bundle.bundle_id} ({args.classifier}, "
          f"{len(bundle.features)} inputs, {len(bundle.selected_features)} used) trained in {t_train:.1f} s")
    # the plain script's inputs: the pickled pipeline and the same patients' wide features in one file
    from alnm_ray.store import to_wide

    with open(root / "model.pkl", "wb") as fh:
        pickle.dump(bundle.model, fh)
    if not (root / "wide.parquet").exists() or t_store:
        long = store.read("radiomics", version).to_pandas()
        wide = to_wide(long[long["cohort"] == "new"])[bundle.features].reset_index()
        wide.to_parquet(root / "wide.parquet", index=False)
        del long, wide

    def plain_script() -> float:
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", PLAIN_SCRIPT, str(root / "model.pkl"), str(root / "wide.parquet"),
                        str(root / "plain.parquet"), str(bundle.threshold)], env=env, check=True)
        return time.perf_counter() - t0

    runs = _timed(lambda: (plain_script(),
                           run_cli(store, version, root / "bundle", root / "cli.parquet", env, args.batch_size)),
                  args.repeat)
    plains = [r[0] for r in runs]
    clis = [r[1][0] for r in runs]
    rsss = [r[1][1] for r in runs]
    plain, cli, rss = min(plains), min(clis), max(rsss)
    ray_s, ray_rss, _ = run_cli(store, version, root / "bundle", root / "cli_ray.parquet",
                                dict(env, ALNM_RAY_SCORE_LOCAL_MAX_ROWS="0"), args.batch_size)
    max_diff = _check_same(root / "cli.parquet", root / "plain.parquet", args.patients)
    ray_diff = _check_same(root / "cli_ray.parquet", root / "plain.parquet", args.patients)
    n = args.patients
    out: dict[str, Any] = {
        "patients": n, "features_per_patient": len(bundle.features), "cpus": os.cpu_count(),
        "cli_s": cli, "plain_script_s": plain, "ratio_cli_over_script": cli / plain,
        "cli_runs_s": clis, "plain_runs_s": plains,
        "cli_peak_rss_mb": rss, "max_abs_prob_diff": max(max_diff, ray_diff), "cli_forced_ray_s": ray_s,
        "cli_forced_ray_peak_rss_mb": ray_rss, "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
    }
    print(f"\n{'':<44}{'seconds':>10}{'patients/s':>14}")
    print(f"{'alnm-ray score --features (whole CLI)':<44}{cli:>10.2f}{n / cli:>14,.0f}")
    print(f"{'alnm-ray score, Ray forced (LOCAL_MAX_ROWS=0)':<44}{ray_s:>10.2f}{n / ray_s:>14,.0f}")
    print(f"{'plain script (pickle, pandas, predict_proba)':<44}{plain:>10.2f}{n / plain:>14,.0f}")
    if args.repeat > 1:
        print(f"best of {args.repeat}: CLI runs {', '.join(f'{c:.2f}' for c in clis)} s; "
              f"script runs {', '.join(f'{p:.2f}' for p in plains)} s")
    print(f"ratio CLI / script: {cli / plain:.2f}x (goal <= 2x); CLI driver peak RSS {rss:,.0f} MB "
          f"({ray_rss:,.0f} MB with Ray forced); "
          f"probabilities identical (max diff {max(max_diff, ray_diff):.1e}); load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    if not args.workdir:
        shutil.rmtree(root / "store")
    if args.rss_patients:
        big, big_version, t_big = build_store(root / "big_store", args.rss_patients, args)
        print(f"\nstore of {args.rss_patients:,} new patients written in {t_big:.0f} s")
        big_load = os.getloadavg()
        secs, big_rss, _ = run_cli(big, big_version, root / "bundle", root / "big.parquet",
                                   dict(env, ALNM_RAY_SCORE_LOCAL_MAX_ROWS=str(10**12)), args.batch_size)
        ray_secs, ray_big_rss, _ = run_cli(big, big_version, root / "bundle", root / "big_ray.parquet",
                                           dict(env, ALNM_RAY_SCORE_LOCAL_MAX_ROWS="0"), args.batch_size)
        same = pd.read_parquet(root / "big.parquet", columns=["patient_id", "probability"]).sort_values("patient_id")
        other = pd.read_parquet(root / "big_ray.parquet", columns=["patient_id", "probability"]).sort_values(
            "patient_id")
        assert len(same) == len(other) == args.rss_patients, (len(same), len(other))
        big_diff = float(np.max(np.abs(same["probability"].to_numpy() - other["probability"].to_numpy())))
        del same, other
        out.update({"rss_patients": args.rss_patients, "cli_big_s": secs, "cli_big_peak_rss_mb": big_rss,
                    "cli_big_ray_s": ray_secs, "cli_big_ray_peak_rss_mb": ray_big_rss,
                    "big_in_process_vs_ray_max_diff": big_diff, "big_loadavg_before": big_load,
                    "big_loadavg_after": os.getloadavg()})
        print(f"alnm-ray score at {args.rss_patients:,} patients in process: {secs:.1f} s, driver peak RSS "
              f"{big_rss:,.0f} MB (x{big_rss / rss:.2f} the RSS at {n:,} for x{args.rss_patients / n:.0f} the "
              f"patients); through Ray: {ray_secs:.1f} s, driver peak RSS {ray_big_rss:,.0f} MB "
              f"(x{ray_big_rss / ray_rss:.2f}); in process vs Ray max diff {big_diff:.1e}; load average "
              f"{big_load[0]:.2f} before, {os.getloadavg()[0]:.2f} after")
    return out


def _check_same(mine_path: Path, theirs_path: Path, n: int) -> float:
    """Max absolute difference of the two files' probabilities by patient (asserts every patient is there)."""
    mine = pd.read_parquet(mine_path, columns=["patient_id", "probability"]).set_index("patient_id")
    theirs = pd.read_parquet(theirs_path).set_index("patient_id")
    assert len(mine) == n == len(theirs), (len(mine), len(theirs), n)
    max_diff = float(np.max(np.abs(mine["probability"].sort_index().to_numpy()
                                   - theirs["probability"].sort_index().to_numpy())))
    assert max_diff < 1e-9, max_diff
    return max_diff


def bench_images(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    import SimpleITK as sitk

    from alnm_ray.extract.job import run_extraction
    from alnm_ray.extract.params import load_params
    from alnm_ray.manifest import read_manifest
    from alnm_ray.preprocess.config import load_plan

    rng = np.random.default_rng(args.seed)

    def cohort(name: str, n: int) -> str:
        folder = root / "images" / name
        folder.mkdir(parents=True)
        rows = []
        for p in range(n):
            y = p % 2
            vol = rng.normal(100.0, 10.0, size=(24, 48, 48)).astype(np.float32)
            zz, yy, xx = np.mgrid[:24, :48, :48]
            r = 6 + rng.integers(0, 4)
            mask = (((zz - 12) / (r * 0.6)) ** 2 + ((yy - 24) / r) ** 2 + ((xx - 24) / r) ** 2 <= 1).astype(np.uint8)
            vol[mask == 1] += 30.0 * y + rng.normal(0, 8, int(mask.sum()))
            pid = f"{name}-{p:03d}"
            for arr, kind in ((vol, "img"), (mask, "msk")):
                img = sitk.GetImageFromArray(arr)
                img.SetSpacing((0.8, 0.8, 2.0))
                sitk.WriteImage(img, str(folder / f"{pid}_{kind}.nii.gz"))
            rows.append({"cohort": name, "center": "C1", "patient_id": pid, "sequence": "T2WI", "reader": "A",
                         "image": f"{pid}_img.nii.gz", "mask": f"{pid}_msk.nii.gz", "label": y})
        pd.DataFrame(rows).to_csv(folder / "manifest.csv", index=False)
        return str(folder / "manifest.csv")

    store = FeatureStore(root / "img_store")
    params = load_params(TINY_PARAMS if args.image_params == "tiny" else args.image_params)
    plan = load_plan("none" if args.image_params == "tiny" else args.image_params)
    train = cohort("img_train", max(12, args.image_patients))
    run_extraction(read_manifest(train, check_files=False), store, params=params, plan=plan, quiet=True)
    train_bundle(store, TrainConfig("radiomics", "lr", selection=SELECTION, split=None), str(root / "img_bundle"))
    new = cohort("img_new", args.image_patients)
    opts = ScoreOptions(n_boot=args.n_boot, quiet=True)
    t0 = time.perf_counter()
    first = score_manifests(str(root / "img_bundle"), store, [new], out=str(root / "img1.parquet"), options=opts)
    cold = time.perf_counter() - t0
    t0 = time.perf_counter()
    score_manifests(str(root / "img_bundle"), store, [new], out=str(root / "img2.parquet"), options=opts)
    warm = time.perf_counter() - t0
    n = args.image_patients
    print(f"\nfrom images ({n} new T2WI cases, 24x48x48 voxels, params {args.image_params}): "
          f"{cold:.1f} s end to end = {cold / n:.2f} s per new case "
          f"({first.work[new]['radiomics']['computed']} extracted); re-run with every case cached: "
          f"{warm:.1f} s = {warm / n:.2f} s per case")
    return {"image_cases": n, "image_params": args.image_params, "cold_s": cold, "cold_s_per_case": cold / n,
            "cached_s": warm, "cached_s_per_case": warm / n}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=200_000, help="new patients scored from features (0: skip)")
    parser.add_argument("--rss-patients", type=int, default=0,
                        help="also the CLI's driver peak RSS at this many patients (e.g. 2000000; slow)")
    parser.add_argument("--train", type=int, default=400, help="training patients")
    parser.add_argument("--features", type=int, default=20, help="radiomics features per sequence")
    parser.add_argument("--classifier", default="lr")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--image-patients", type=int, default=0, help="new cases from images (0: skip)")
    parser.add_argument("--image-params", default="tiny", help="'tiny' (firstorder + GLCM) or 'guo2024'")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded Ray (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of the script and the CLI at --patients, alternated (best of each reported)")
    parser.add_argument("--workdir", default=None,
                        help="keep stores, bundle and key pair here and reuse them in later runs (default: a "
                             "temporary folder)")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(args.workdir or tmp)
        root.mkdir(parents=True, exist_ok=True)
        from alnm_ray.score.signing import SIGNING_KEY_ENVVAR, TRUSTED_KEYS_ENVVAR, create_key_pair

        found = sorted((root / "keys").glob("*.pub")) if (root / "keys").exists() else []
        if found:
            private, public = found[0].with_suffix(".key"), found[0]
        else:
            private, public = create_key_pair(root / "keys", "bench")  # bundles are signed; scoring trusts this key
        os.environ[SIGNING_KEY_ENVVAR], os.environ[TRUSTED_KEYS_ENVVAR] = str(private), str(public)
        env = dict(os.environ, PYTHONWARNINGS="ignore")
        if args.patients > 0:
            results["features"] = bench_features(args, root, env)
        if args.image_patients > 0:
            with ray_session(RayConfig(num_cpus=args.num_cpus, quiet=True)):
                results["images"] = bench_images(args, root)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
