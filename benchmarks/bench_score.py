"""Benchmark: batch scoring with a frozen bundle.

Part 1 — throughput from stored features.  A synthetic store holds a training
cohort (``--train`` patients) and a new cohort of ``--patients`` patients
(default 100 000) x 2 sequences x ``--features`` radiomics features per
sequence.  A bundle is trained on the training cohort (guo2024 selection with
fewer LASSO repeats, ``--classifier``), then the new cohort is scored two ways:

* ``alnm-ray`` — :func:`alnm_ray.score.job.score_features`: read the version
  from the store, pivot to one row per patient, schema and drift checks, Ray
  Data ``map_batches`` over an autoscaling actor pool (bundle loaded once per
  actor, checksums verified in each), predictions Parquet + reports + a new
  ``predictions`` store version;
* ``pandas`` — the plain script: ``pandas.read_parquet`` of the same version's
  files, ``pivot`` to one row per patient, ``predict_proba`` of the loaded
  bundle's model in this process, ``to_parquet``.

Both produce the same probabilities (checked).  Reported: wall seconds,
patients per second and the ratio; also the Ray Data stage alone vs the
in-process ``predict_proba`` alone.

Part 2 — end-to-end seconds per new case from images (``--image-patients``,
0 to skip): tiny synthetic T2WI cases are extracted with the bundle's
PyRadiomics params (``--image-params tiny`` or ``guo2024``), then scored;
a second run of the same manifest shows the cached path.

Usage::

    .venv/bin/python benchmarks/bench_score.py                       # 100 000 patients, 2 CPUs
    .venv/bin/python benchmarks/bench_score.py --patients 20000 --image-patients 0 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
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
from alnm_ray.score.job import ScoreOptions, score_features, score_manifests  # noqa: E402
from alnm_ray.score.train import TrainConfig, train_bundle  # noqa: E402
from alnm_ray.store import FeatureStore  # noqa: E402

SEQUENCES = ("T2WI", "ADC")
SELECTION = {"preset": "guo2024", "icc_threshold": None, "lasso_repeats": 3, "lasso_folds": 5}
TINY_PARAMS = {"imageType": {"Original": {}}, "featureClass": {"firstorder": None, "glcm": None},
               "setting": {"binWidth": 25, "label": 1}}


def long_table(n: int, n_features: int, cohort: str, seed: int, split: str | None) -> pa.Table:
    """One row per (patient, sequence), reader A; the first two features carry the label."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(np.int64)
    patient = np.repeat(np.arange(n), len(SEQUENCES))
    rows = n * len(SEQUENCES)
    values = rng.normal(size=(rows, n_features))
    values[:, 0] += 1.2 * y[patient]
    values[:, 1] -= 0.8 * y[patient]
    cols: dict[str, Any] = {
        "cohort": pa.array([cohort] * rows), "center": pa.array([f"C{p % 5}" for p in patient]),
        "patient_id": pa.array([f"{cohort}-{p:06d}" for p in patient]),
        "sequence": pa.array(np.tile(np.array(SEQUENCES), n)), "reader": pa.array(["A"] * rows),
        "label": pa.array(y[patient]),
    }
    if split:
        cols["split"] = pa.array([split] * rows)
    for j in range(n_features):
        cols[f"original_firstorder_f{j:03d}"] = pa.array(values[:, j])
    return pa.table(cols)


def pandas_baseline(store: FeatureStore, version: str, bundle_dir: str, out: str) -> tuple[dict[str, float], pd.Series]:
    """The plain one-process script: read Parquet, pivot, predict_proba, write."""
    info = store.resolve(f"radiomics@{version}")
    t0 = time.perf_counter()
    bundle = load_bundle(bundle_dir)
    paths = [store.location.path(info.data_dir, f) for f in info.files]
    long = pd.concat([pd.read_parquet(p) for p in paths], ignore_index=True)
    long = long[long["cohort"] == "new"]
    feats = [c for c in long.columns if c.startswith("original_")]
    wide = long.pivot(index="patient_id", columns="sequence", values=feats)
    wide.columns = [f"{s}__{f}" for f, s in wide.columns]
    t1 = time.perf_counter()
    proba = bundle.model.predict_proba(wide[bundle.features])[:, 1]
    t2 = time.perf_counter()
    pd.DataFrame({"patient_id": wide.index, "probability": proba,
                  "predicted_label": (proba >= bundle.threshold).astype(int)}).to_parquet(out, index=False)
    t3 = time.perf_counter()
    return ({"total_s": t3 - t0, "read_pivot_s": t1 - t0, "predict_s": t2 - t1, "write_s": t3 - t2},
            pd.Series(proba, index=wide.index))


def bench_features(args: argparse.Namespace, root: Path) -> dict[str, Any]:
    store = FeatureStore(root / "store")
    t0 = time.perf_counter()
    store.write_version("radiomics", pa.concat_tables([
        long_table(args.train, args.features, "train_c", args.seed, "train"),
        long_table(args.patients, args.features, "new", args.seed + 1, None)], promote_options="permissive"))
    version = store.latest("radiomics").version
    t_store = time.perf_counter() - t0
    t0 = time.perf_counter()
    trained = train_bundle(store, TrainConfig("radiomics", args.classifier, selection=SELECTION, seed=args.seed,
                                              cohorts=("train_c",)), str(root / "bundle"))
    t_train = time.perf_counter() - t0
    print(f"store: {args.patients + args.train} patients x {len(SEQUENCES)} sequences x {args.features} features "
          f"written in {t_store:.1f} s; bundle {trained.bundle_id} ({args.classifier}, {trained.features} inputs, "
          f"{len(trained.selected)} used) trained in {t_train:.1f} s")

    opts = ScoreOptions(cohorts=("new",), batch_size=args.batch_size, n_boot=args.n_boot, quiet=True)
    t0 = time.perf_counter()
    result = score_features(str(root / "bundle"), store, [f"radiomics@{version}"], out=str(root / "ray.parquet"),
                            options=opts)
    ray_total = time.perf_counter() - t0
    base, base_p = pandas_baseline(store, version, str(root / "bundle"), str(root / "pandas.parquet"))
    ray_p = result.predictions.set_index("patient_id")["probability"]
    max_diff = float(np.max(np.abs(ray_p.sort_index().to_numpy() - base_p.sort_index().to_numpy())))
    assert len(ray_p) == args.patients and max_diff < 1e-9, (len(ray_p), max_diff)

    # the Ray Data stage alone vs predict_proba alone, on the same in-memory wide table
    from alnm_ray.score.bundle import read_bundle_files
    from alnm_ray.score.predict import predict_wide
    from alnm_ray.store import to_wide

    wide = to_wide(store.read("radiomics", version).to_pandas().query("cohort == 'new'")).reset_index()
    bundle = load_bundle(root / "bundle")
    files = read_bundle_files(root / "bundle")
    t0 = time.perf_counter()
    predict_wide(files, wide[["cohort", "center", "patient_id", *bundle.features]], batch_size=args.batch_size)
    ray_stage = time.perf_counter() - t0
    t0 = time.perf_counter()
    bundle.predict_proba(wide[bundle.features])
    inproc = time.perf_counter() - t0
    n = args.patients
    out = {
        "patients": n, "features_per_patient": len(bundle.features), "cpus": os.cpu_count(),
        "alnm_ray_total_s": ray_total, "alnm_ray_patients_per_s": n / ray_total,
        "pandas_total_s": base["total_s"], "pandas_patients_per_s": n / base["total_s"],
        "ratio_total_alnm_over_pandas": base["total_s"] / ray_total,
        "ray_data_stage_s": ray_stage, "in_process_predict_s": inproc,
        "ratio_stage": inproc / ray_stage, "pandas_breakdown_s": base, "alnm_ray_breakdown_s": result.timings,
        "max_abs_prob_diff": max_diff,
    }
    print(f"\n{'':<34}{'seconds':>10}{'patients/s':>14}")
    print(f"{'alnm-ray score (end to end)':<34}{ray_total:>10.2f}{n / ray_total:>14,.0f}")
    print(f"{'pandas + predict_proba (script)':<34}{base['total_s']:>10.2f}{n / base['total_s']:>14,.0f}")
    print(f"{'Ray Data actor stage only':<34}{ray_stage:>10.2f}{n / ray_stage:>14,.0f}")
    print(f"{'predict_proba in process only':<34}{inproc:>10.2f}{n / inproc:>14,.0f}")
    print("alnm-ray breakdown (s): " + ", ".join(f"{k} {v:.1f}" for k, v in result.timings.items())
          + f"; read+verify rest {ray_total - sum(result.timings.values()):.1f}")
    print("pandas breakdown (s): " + ", ".join(f"{k} {v:.2f}" for k, v in base.items()))
    print(f"throughput ratio alnm-ray / pandas: {base['total_s'] / ray_total:.2f} (end to end), "
          f"{inproc / ray_stage:.2f} (prediction stage); probabilities identical (max diff {max_diff:.1e})")
    return out


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
    parser.add_argument("--patients", type=int, default=100_000, help="new patients scored from features (0: skip)")
    parser.add_argument("--train", type=int, default=400, help="training patients")
    parser.add_argument("--features", type=int, default=50, help="radiomics features per sequence")
    parser.add_argument("--classifier", default="lr")
    parser.add_argument("--batch-size", type=int, default=8192)
    parser.add_argument("--n-boot", type=int, default=200)
    parser.add_argument("--image-patients", type=int, default=8, help="new cases from images (0: skip)")
    parser.add_argument("--image-params", default="tiny", help="'tiny' (firstorder + GLCM) or 'guo2024'")
    parser.add_argument("--num-cpus", type=int, default=None, help="CPUs of the embedded Ray (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    warnings.simplefilter("ignore")
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, ray_session(RayConfig(num_cpus=args.num_cpus, quiet=True)):
        root = Path(tmp)
        from alnm_ray.score.signing import SIGNING_KEY_ENVVAR, TRUSTED_KEYS_ENVVAR, create_key_pair

        private, public = create_key_pair(root / "keys", "bench")  # bundles are signed; scoring trusts this key
        os.environ[SIGNING_KEY_ENVVAR], os.environ[TRUSTED_KEYS_ENVVAR] = str(private), str(public)
        if args.patients > 0:
            results["features"] = bench_features(args, root)
        if args.image_patients > 0:
            results["images"] = bench_images(args, root)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
