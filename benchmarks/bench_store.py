"""Benchmark: store bytes and write time as cohorts are added, old layout vs Delta Lake.

A radiomics table grows by one cohort of ``--patients`` patients (default
1,000) per run, ``--cohorts`` times (default 10).  Each run writes the table's
whole content as a new version, as ``alnm-ray extract`` does:

* ``before`` — the store of the previous release (git tag ``pre-delta``: a
  Parquet folder per version, every version a full copy, a JSON catalog in
  ``_catalog/``).  Its code is taken from the tag with ``git archive`` into a
  temporary folder and run in a subprocess with ``PYTHONPATH`` pointing
  there, so what is measured is that release's own writer;
* ``now`` — the Delta Lake store of this checkout: the full content with
  ``changed=`` marking the new cohort's rows and a ``version_id`` (what the
  extraction job passes), so only the new rows are written (an append);
* ``data`` — the same rows written once as one plain Parquet file
  (``pyarrow.parquet.write_table``, its default snappy compression, as both
  stores use): the data's own size.

Rows are long format, one per (patient, sequence): ``--sequences`` sequences
(default 6) x ``--features`` float64 features (default 300) plus the case
columns.  Store bytes are every file below the store folder (data, Delta log
or catalog, marker).  Write seconds are the ``write_version`` call alone.

Usage::

    .venv/bin/python benchmarks/bench_store.py                    # 10 cohorts of 1,000 patients
    .venv/bin/python benchmarks/bench_store.py --features 2079 --cohorts 5 --json out.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
#: The release whose store kept every version as a full copy.
OLD_TAG = "pre-delta"
SEQUENCES = ("MG_CC", "MG_MLO", "T2WI", "DWI", "ADC", "DCE_P2")
CENTERS = ("C1", "C2", "C3", "C4", "C5")
TABLE = "radiomics"


def cohort_table(index: int, n_patients: int, n_sequences: int, n_features: int, seed: int) -> pa.Table:
    """Cohort ``index``: one row per (patient, sequence), case columns then float features."""
    rng = np.random.default_rng([seed, index])
    sequences = np.array(SEQUENCES[:n_sequences] if n_sequences <= len(SEQUENCES)
                         else [f"SEQ{j:02d}" for j in range(n_sequences)])
    n = n_patients * n_sequences
    patient = np.repeat(np.arange(n_patients), n_sequences)
    cohort = f"cohort{index:02d}"
    columns: dict[str, Any] = {
        "cohort": pa.array([cohort] * n),
        "center": pa.array(np.array(CENTERS)[(patient + index) % len(CENTERS)]),
        "patient_id": pa.array([f"{cohort}-P{p:05d}" for p in patient]),
        "sequence": pa.array(np.tile(sequences, n_patients)),
        "reader": pa.array(["A"] * n),
        "label": pa.array(rng.integers(0, 2, n_patients)[patient]),
        "case_hash": pa.array([f"{h:016x}" for h in rng.integers(0, 2**63, n)]),
    }
    values = rng.normal(size=(n_features, n))
    for j, col in enumerate(values):
        columns[f"original_glcm_f{j:04d}"] = pa.array(col)
    return pa.table(columns)


def folder_bytes(path: str) -> tuple[int, int]:
    """Total bytes and number of files below ``path``."""
    total = files = 0
    for root, _, names in os.walk(path):
        for name in names:
            total += os.path.getsize(os.path.join(root, name))
            files += 1
    return total, files


def worker(args: argparse.Namespace) -> int:
    """Write ``--cohorts`` versions with the ``alnm_ray`` found first on the path; JSON lines out."""
    import alnm_ray
    from alnm_ray.store import FeatureStore

    where = os.path.dirname(os.path.dirname(os.path.abspath(alnm_ray.__file__)))
    if os.path.realpath(where) != os.path.realpath(args.expect_root):
        raise SystemExit(f"worker {args.layout}: expected alnm_ray from {args.expect_root}; "
                         f"imported it from {where}. Check PYTHONPATH.")
    store_dir = os.path.join(args.workdir, f"store-{args.layout}")
    store = FeatureStore(store_dir)
    full: pa.Table | None = None
    for k in range(1, args.cohorts + 1):
        new = cohort_table(k - 1, args.patients, args.sequences, args.features, args.seed)
        full = new if full is None else pa.concat_tables([full, new])
        kwargs: dict[str, Any] = {"version_id": f"bench{k:04d}", "params": {"benchmark": "store"}}
        if args.layout == "now":
            changed = np.zeros(full.num_rows, dtype=bool)
            changed[full.num_rows - new.num_rows:] = True
            kwargs["changed"] = changed
        start = time.perf_counter()
        info = store.write_version(TABLE, full, **kwargs)
        seconds = time.perf_counter() - start
        size, files = folder_bytes(store_dir)
        print(json.dumps({"cohorts": k, "rows": info.rows, "seconds": seconds, "bytes": size,
                          "files": files, "mode": getattr(info, "mode", "full copy")}), flush=True)
    # both stores must hold exactly the rows written, latest and first version
    assert store.read(TABLE).num_rows == full.num_rows
    assert store.read(TABLE, "bench0001").num_rows == args.patients * args.sequences
    return 0


def extract_old_release(dest: str) -> str:
    """``git archive`` the ``pre-delta`` tag's package into ``dest``; returns the folder."""
    blob = subprocess.run(["git", "-C", REPO, "archive", "--format=tar", OLD_TAG, "alnm_ray"],
                          check=True, capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(blob)) as tar:
        tar.extractall(dest, filter="data")
    return dest


def run_layout(layout: str, root: str, args: argparse.Namespace, workdir: str) -> list[dict[str, Any]]:
    env = dict(os.environ, PYTHONPATH=root, PYTHONIOENCODING="utf-8")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", layout, "--expect-root", root,
           "--workdir", workdir, "--cohorts", str(args.cohorts), "--patients", str(args.patients),
           "--sequences", str(args.sequences), "--features", str(args.features),
           "--seed", str(args.seed)]
    # cwd outside the checkout, so the old worker cannot import this checkout's package by accident
    done = subprocess.run(cmd, env=env, cwd=workdir, capture_output=True, text=True, encoding="utf-8")
    if done.returncode:
        raise SystemExit(f"{layout} worker failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def plain_parquet(args: argparse.Namespace, workdir: str, at: list[int]) -> dict[int, dict[str, float]]:
    out = {}
    for k in at:
        table = pa.concat_tables([cohort_table(i, args.patients, args.sequences, args.features, args.seed)
                                  for i in range(k)])
        path = os.path.join(workdir, f"plain-{k}.parquet")
        start = time.perf_counter()
        pq.write_table(table, path)
        out[k] = {"seconds": time.perf_counter() - start, "bytes": os.path.getsize(path)}
        os.remove(path)
    return out


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cohorts", type=int, default=10)
    parser.add_argument("--patients", type=int, default=1000, help="patients per cohort")
    parser.add_argument("--sequences", type=int, default=6, help="rows per patient")
    parser.add_argument("--features", type=int, default=300, help="float features per row")
    parser.add_argument("--report-at", default="1,5,10", help="cohort counts shown in the table")
    parser.add_argument("--seed", type=int, default=20241616)
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    parser.add_argument("--worker", choices=("before", "now"), default=None, help=argparse.SUPPRESS)
    parser.add_argument("--expect-root", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--workdir", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        args.layout = args.worker
        return worker(args)

    at = sorted({int(x) for x in args.report_at.split(",") if 0 < int(x) <= args.cohorts} | {args.cohorts})
    with tempfile.TemporaryDirectory(prefix="alnm-bench-store-") as tmp:
        old_root = extract_old_release(os.path.join(tmp, OLD_TAG))
        results = {}
        for layout, root in (("before", old_root), ("now", REPO)):
            work = os.path.join(tmp, layout)
            os.makedirs(work)
            results[layout] = {r["cohorts"]: r for r in run_layout(layout, root, args, work)}
        data = plain_parquet(args, tmp, at)

    rows_per_cohort = args.patients * args.sequences
    print(f"table: {TABLE}, {args.patients:,} patients x {args.sequences} sequences per cohort "
          f"({rows_per_cohort:,} rows x {args.features} float features + 7 case columns); "
          f"{args.cohorts} incremental runs; machine: {os.cpu_count()} CPU(s); "
          f"load average {os.getloadavg()[0]:.1f}")
    print("before = tag pre-delta (Parquet folder per version, full copy); now = Delta Lake, "
          "changed= marks the new cohort; data = the same rows once as plain Parquet\n")
    head = ("cohorts", "rows", "before MiB", "now MiB", "data MiB", "before/data", "now/data",
            "before write s", "now write s", "before total s", "now total s")
    print("  ".join(f"{h:>14}" for h in head))
    figures = []
    for k in at:
        b, n, d = results["before"][k], results["now"][k], data[k]
        b_total = sum(results["before"][i]["seconds"] for i in range(1, k + 1))
        n_total = sum(results["now"][i]["seconds"] for i in range(1, k + 1))
        cells = [f"{k}", f"{n['rows']:,}", mib(b["bytes"]), mib(n["bytes"]), mib(d["bytes"]),
                 f"{b['bytes'] / d['bytes']:.2f}x", f"{n['bytes'] / d['bytes']:.2f}x",
                 f"{b['seconds']:.2f}", f"{n['seconds']:.2f}", f"{b_total:.1f}", f"{n_total:.1f}"]
        print("  ".join(f"{c:>14}" for c in cells))
        figures.append({"cohorts": k, "rows": n["rows"], "before": b, "now": n, "data": d,
                        "before_total_s": b_total, "now_total_s": n_total})
    last = figures[-1]
    goal = last["now"]["bytes"] / last["data"]["bytes"]
    shrink = last["before"]["bytes"] / last["now"]["bytes"]
    print(f"\nafter {args.cohorts} cohorts: now/data {goal:.3f}x (goal <= 1.1x: "
          f"{'met' if goal <= 1.1 else 'NOT met'}); before/now {shrink:.1f}x "
          f"bytes; last write before {last['before']['seconds']:.2f} s, now {last['now']['seconds']:.2f} s; "
          f"files now {last['now']['files']}, before {last['before']['files']}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"args": {k: v for k, v in vars(args).items() if not k.startswith("worker")},
                       "figures": figures,
                       "per_cohort": {lay: list(r.values()) for lay, r in results.items()}}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
