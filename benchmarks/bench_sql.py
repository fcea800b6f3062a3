"""Benchmark: DuckDB SQL over the feature store against pandas reading a CSV.

Builds a synthetic store of N patients × 6 sequences (one radiomics row per
case, F float features, 5 centres) in a temporary folder, writes the same
rows as one CSV, and times two questions users ask:

* per-centre aggregate: ``count`` and mean/SD of two features per centre;
* patient lookup: every row of one patient.

Each is timed as

* ``duckdb cold``  — :func:`alnm_ray.store.query`: open the store, read the
  catalog, register the views, run the query (what one ``alnm-ray sql`` does
  after Python start-up);
* ``duckdb warm``  — one :class:`alnm_ray.store.StoreSQL` session reused;
* ``pandas csv``   — ``pandas.read_csv`` of the whole CSV, then the operation;
* ``pandas csv usecols`` — ``read_csv`` of only the needed columns, then the operation;
* ``pandas memory`` — the operation on an already-loaded DataFrame (reference).

Medians of ``--repeats`` runs, in milliseconds.  Results of every method are
checked against each other before timing is reported.

Usage:
    python benchmarks/bench_sql.py [--patients 10000] [--features 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from alnm_ray.store import FeatureStore, StoreSQL, query

SEQUENCES = ("MG_CC", "MG_MLO", "T2WI", "DWI", "ADC", "DCE_P2")
CENTERS = ("C1", "C2", "C3", "C4", "C5")
F0, F1 = "original_firstorder_f000", "original_glcm_f001"


def synthetic_long_table(n_patients: int, n_features: int, seed: int) -> pa.Table:
    """One row per (patient, sequence): keys, label, case_hash and float features."""
    rng = np.random.default_rng(seed)
    n = n_patients * len(SEQUENCES)
    patient = np.repeat(np.arange(n_patients), len(SEQUENCES))
    columns: dict[str, Any] = {
        "cohort": pa.array(["bench"] * n),
        "center": pa.array(np.array(CENTERS)[patient % len(CENTERS)]),
        "patient_id": pa.array([f"P{p:06d}" for p in patient]),
        "sequence": pa.array(np.tile(np.array(SEQUENCES), n_patients)),
        "reader": pa.array(["A"] * n),
        "label": pa.array(rng.integers(0, 2, n_patients)[patient]),
        "case_hash": pa.array([f"{h:016x}" for h in rng.integers(0, 2**63, n)]),
    }
    names = [F0, F1] + [f"original_glszm_f{j:03d}" for j in range(2, n_features)]
    values = rng.normal(size=(n_features, n))
    for name, col in zip(names, values):
        columns[name] = pa.array(col)
    return pa.table(columns)


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time (ms) of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=20241482)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="alnm-bench-sql-") as tmp:
        start = time.perf_counter()
        table = synthetic_long_table(args.patients, args.features, args.seed)
        t_gen = time.perf_counter() - start
        store = FeatureStore(os.path.join(tmp, "store"))
        start = time.perf_counter()
        info = store.write_version("radiomics", table, params={"benchmark": True})
        t_store = time.perf_counter() - start
        csv_path = os.path.join(tmp, "radiomics.csv")
        start = time.perf_counter()
        pacsv.write_csv(table, csv_path)
        t_csv = time.perf_counter() - start
        store_mb = sum(os.path.getsize(os.path.join(info.path, f)) for f in info.files) / 2**20
        csv_mb = os.path.getsize(csv_path) / 2**20
        print(f"data: {info.rows} rows ({args.patients} patients × {len(SEQUENCES)} sequences), "
              f"{table.num_columns} columns ({args.features} features); generated in {t_gen:.1f} s")
        print(f"store: {store_mb:.1f} MiB Parquet written in {t_store:.1f} s; "
              f"CSV: {csv_mb:.1f} MiB written in {t_csv:.1f} s")
        print(f"machine: {os.cpu_count()} CPU(s); median of {args.repeats} runs, ms\n")

        target = f"P{args.patients // 2:06d}"
        agg_sql = (f"SELECT center, count(*) AS n, avg({F0}) AS mean_f0, stddev_samp({F1}) AS sd_f1 "
                   "FROM radiomics GROUP BY center ORDER BY center")
        look_sql = f"SELECT * FROM radiomics WHERE patient_id = '{target}' ORDER BY sequence"

        def pd_agg(frame: pd.DataFrame) -> pd.DataFrame:
            out = frame.groupby("center").agg(n=(F0, "size"), mean_f0=(F0, "mean"),
                                              sd_f1=(F1, "std"))
            return out.reset_index().sort_values("center")

        def pd_look(frame: pd.DataFrame) -> pd.DataFrame:
            return frame[frame["patient_id"] == target].sort_values("sequence")

        loaded = pd.read_csv(csv_path)
        session = StoreSQL(store)
        cases = {
            "per-centre aggregate": (agg_sql, pd_agg, ["center", F0, F1]),
            "patient lookup": (look_sql, pd_look, None),
        }
        rows = []
        for name, (sql, op, usecols) in cases.items():
            cold, r_cold = timed(lambda: query(store, sql), args.repeats)
            warm, r_warm = timed(lambda: session.query(sql), args.repeats)
            full, r_full = timed(lambda: op(pd.read_csv(csv_path)), args.repeats)
            cols = usecols or list(table.schema.names)
            some, _ = timed(lambda: op(pd.read_csv(csv_path, usecols=cols)), args.repeats)
            memory, _ = timed(lambda: op(loaded), args.repeats)
            # every method must give the same answer
            assert r_cold.num_rows == r_warm.num_rows == len(r_full), name
            if name.startswith("per-centre"):
                np.testing.assert_allclose(r_warm.column("mean_f0").to_numpy(),
                                           r_full["mean_f0"].to_numpy(), rtol=1e-9)
                np.testing.assert_array_equal(r_warm.column("n").to_numpy(), r_full["n"].to_numpy())
            else:
                np.testing.assert_allclose(r_warm.column(F1).to_numpy(), r_full[F1].to_numpy())
            rows.append((name, cold, warm, full, some, memory))
        session.close()

    head = ("query", "duckdb cold", "duckdb warm", "pandas csv", "csv usecols", "pandas memory",
            "csv/cold", "csv/warm")
    print("  ".join(f"{h:>13}" if i else f"{h:<22}" for i, h in enumerate(head)))
    for name, cold, warm, full, some, memory in rows:
        cells = [f"{cold:13.1f}", f"{warm:13.1f}", f"{full:13.1f}", f"{some:13.1f}",
                 f"{memory:13.1f}", f"{full / cold:12.1f}×", f"{full / warm:12.1f}×"]
        print(f"{name:<22}  " + "  ".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
