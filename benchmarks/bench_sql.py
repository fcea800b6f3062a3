"""Benchmark: ``alnm-ray sql`` over the Delta store against DuckDB reading the same Parquet files.

Builds a synthetic store in a temporary folder: a ``radiomics`` table of
``--patients`` patients (default 10,000) x 6 sequences (one row per case,
``--features`` float features, 5 centres), written as ``--cohorts``
incremental runs (each the full content with ``changed=`` marking the new
cohort, as ``alnm-ray extract`` writes it: one Delta append per cohort).  Then
it times two questions users ask:

* per-centre aggregate: ``count`` and mean/SD of two features per centre;
* patient lookup: every row of one patient.

Each is timed as

* ``alnm-ray sql`` — the whole CLI process (``alnm-ray sql --store S --format
  csv "…"``): interpreter and import start-up, opening the store, reading
  every table's Delta log, the checks of the latest versions, the views, the
  query and printing the result;
* ``duckdb direct`` — the same query in a fresh ``python -c "import duckdb;
  …"`` process reading the Parquet files of the table's current Delta
  snapshot with ``read_parquet([...])`` and printing the rows: what a user
  who knows the file list would run (start-up included);
* ``StoreSQL cold`` — :func:`alnm_ray.store.query` in this process (opens a
  session per query: log, checks, views, query);
* ``StoreSQL warm`` — one :class:`alnm_ray.store.StoreSQL` session reused;
* ``duckdb in-process`` — a new DuckDB connection in this process running
  ``read_parquet([...])`` over the same files.

Medians of ``--repeats`` runs, in milliseconds.  The results of every method
are checked against each other before the timings are reported.  Goal: the
CLI within 1.3x of DuckDB direct, start-up included.

Both processes run with Python's bytecode cache on (``PYTHONPYCACHEPREFIX``
in the temporary folder, ``PYTHONDONTWRITEBYTECODE`` unset) after one
untimed run each: an installed package has its ``.pyc`` files, as DuckDB's
do; without them every run of the CLI would compile alnm-ray's sources.
Beside the wall time, the CPU time of each process (user + system, all its
threads) is reported: on a loaded machine it moves far less than the wall
time does.

Usage:
    python benchmarks/bench_sql.py [--patients 10000] [--features 100] [--repeats 5]
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from alnm_ray.store import FeatureStore, StoreSQL, query  # noqa: E402

SEQUENCES = ("MG_CC", "MG_MLO", "T2WI", "DWI", "ADC", "DCE_P2")
CENTERS = ("C1", "C2", "C3", "C4", "C5")
F0, F1 = "original_firstorder_f000", "original_glcm_f001"
#: What the ``duckdb direct`` process runs: the query, rows printed as CSV.
DIRECT = ("import csv, sys, duckdb\n"
          "rel = duckdb.sql(sys.argv[1])\n"
          "out = csv.writer(sys.stdout)\n"
          "out.writerow(rel.columns)\n"
          "out.writerows(rel.fetchall())\n")


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


def write_incrementally(store: FeatureStore, table: pa.Table, cohorts: int) -> list[Any]:
    """Write ``table`` as ``cohorts`` runs, each adding the next slice of patients."""
    bounds = np.linspace(0, table.num_rows // len(SEQUENCES), cohorts + 1).astype(int) * len(SEQUENCES)
    infos = []
    for k in range(1, cohorts + 1):
        content = table.slice(0, bounds[k])
        changed = np.zeros(content.num_rows, dtype=bool)
        changed[bounds[k - 1]:] = True
        infos.append(store.write_version("radiomics", content, version_id=f"bench{k:04d}",
                                         params={"benchmark": "sql"}, changed=changed))
    return infos


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median wall time (ms) of ``repeats`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def timed_process(cmd: list[str], repeats: int, env: dict[str, str]
                  ) -> tuple[float, float, list[list[str]]]:
    """Median wall and CPU time (ms) of ``repeats`` runs of ``cmd`` after one untimed run, and its rows."""
    run_csv(cmd, env)  # warm-up: the bytecode cache and the page cache
    walls, cpus, rows = [], [], []
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        rows = run_csv(cmd, env)
        walls.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return statistics.median(walls), statistics.median(cpus), rows


def run_csv(cmd: list[str], env: dict[str, str] | None = None) -> list[list[str]]:
    """Run ``cmd``; its stdout parsed as CSV (header first)."""
    done = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8",
                          env=dict(env or os.environ, PYTHONIOENCODING="utf-8"))
    if done.returncode:
        raise SystemExit(f"{cmd[0]} failed (exit {done.returncode}): {done.stderr[-2000:]}")
    return list(csv.reader(io.StringIO(done.stdout)))


def same_rows(a: list[list[str]], b: list[list[str]], what: str) -> None:
    """The two CSV results hold the same header and values (floats to 1e-9 relative)."""
    assert a[0] == b[0], f"{what}: columns differ: {a[0][:5]} vs {b[0][:5]}"
    assert len(a) == len(b), f"{what}: {len(a) - 1} vs {len(b) - 1} rows"
    for ra, rb in zip(a[1:], b[1:]):
        for x, y in zip(ra, rb):
            if x == y:
                continue
            if x.lower() in ("true", "false") and y.lower() == x.lower():
                continue
            np.testing.assert_allclose(float(x), float(y), rtol=1e-9, err_msg=what)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--cohorts", type=int, default=10, help="incremental runs writing the table")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=20241482)
    parser.add_argument("--json", default=None, help="also write every figure to this file")
    args = parser.parse_args(argv)
    cli = os.path.join(os.path.dirname(sys.executable), "alnm-ray")
    if not os.path.exists(cli):
        raise SystemExit(f"expected the alnm-ray command beside {sys.executable}; found none. "
                         "Run this with the project's .venv/bin/python.")

    with tempfile.TemporaryDirectory(prefix="alnm-bench-sql-") as tmp:
        start = time.perf_counter()
        table = synthetic_long_table(args.patients, args.features, args.seed)
        t_gen = time.perf_counter() - start
        store_dir = os.path.join(tmp, "store")
        store = FeatureStore(store_dir)
        start = time.perf_counter()
        infos = write_incrementally(store, table, args.cohorts)
        t_store = time.perf_counter() - start
        from deltalake import DeltaTable

        files = sorted(DeltaTable(store.table_uri("radiomics")).file_uris())
        store_mb = sum(os.path.getsize(f) for f in files) / 2**20
        info = infos[-1]
        # time travel: the first run's Delta version holds the first cohort only
        first = query(store, f'SELECT count(*) AS n FROM "radiomics@{infos[0].delta_version}"')
        assert first.column("n")[0].as_py() == infos[0].rows, "time travel to the first cohort"
        print(f"data: {info.rows} rows ({args.patients} patients × {len(SEQUENCES)} sequences), "
              f"{table.num_columns} columns ({args.features} features); generated in {t_gen:.1f} s")
        print(f"store: Delta table of {len(files)} Parquet files, {store_mb:.1f} MiB, written as "
              f"{args.cohorts} incremental runs in {t_store:.1f} s (Delta version {info.delta_version})")
        print(f"machine: {os.cpu_count()} CPU(s), load average {os.getloadavg()[0]:.1f}; "
              f"median of {args.repeats} runs, ms\n")

        target = f"P{args.patients // 2:06d}"
        source = "read_parquet([" + ", ".join(f"'{f}'" for f in files) + "])"
        queries = {
            "per-centre aggregate": (f"SELECT center, count(*) AS n, avg({F0}) AS mean_f0, "
                                     f"stddev_samp({F1}) AS sd_f1 FROM {{src}} GROUP BY center "
                                     "ORDER BY center"),
            "patient lookup": f"SELECT * FROM {{src}} WHERE patient_id = '{target}' ORDER BY sequence",
        }
        session = StoreSQL(store)
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        rows, figures, cpu = [], [], []
        for name, template in queries.items():
            ours, theirs = template.format(src="radiomics"), template.format(src=source)
            cli_cmd = [cli, "sql", "--store", store_dir, "--format", "csv", ours]
            direct_cmd = [sys.executable, "-c", DIRECT, theirs]
            t_cli, c_cli, r_cli = timed_process(cli_cmd, args.repeats, env)
            t_direct, c_direct, r_direct = timed_process(direct_cmd, args.repeats, env)
            t_cold, r_cold = timed(lambda: query(store, ours), args.repeats)
            t_warm, r_warm = timed(lambda: session.query(ours), args.repeats)
            t_inproc, r_inproc = timed(lambda: duckdb.connect().sql(theirs).to_arrow_table(),
                                       args.repeats)
            # every method must give the same answer
            same_rows(r_cli, r_direct, name)
            assert r_cold.num_rows == r_warm.num_rows == r_inproc.num_rows == len(r_cli) - 1, name
            for col in ((F1,) if name == "patient lookup" else ("n", "mean_f0", "sd_f1")):
                np.testing.assert_allclose(r_warm.column(col).to_numpy(), r_inproc.column(col).to_numpy(),
                                           rtol=1e-9, err_msg=name)
                np.testing.assert_allclose(r_cold.column(col).to_numpy(), r_inproc.column(col).to_numpy(),
                                           rtol=1e-9, err_msg=name)
            rows.append((name, t_cli, t_direct, t_cold, t_warm, t_inproc))
            cpu.append((name, c_cli, c_direct))
            figures.append({"query": name, "cli_ms": t_cli, "duckdb_direct_ms": t_direct,
                            "cli_cpu_ms": c_cli, "duckdb_direct_cpu_ms": c_direct,
                            "storesql_cold_ms": t_cold, "storesql_warm_ms": t_warm,
                            "duckdb_inprocess_ms": t_inproc})
        session.close()

    head = ("query", "alnm-ray sql", "duckdb direct", "CLI/direct", "StoreSQL cold", "StoreSQL warm",
            "duckdb in-proc", "cold/in-proc", "warm/in-proc")
    print("  ".join(f"{h:>14}" if i else f"{h:<22}" for i, h in enumerate(head)))
    for name, t_cli, t_direct, t_cold, t_warm, t_inproc in rows:
        cells = [f"{t_cli:14.1f}", f"{t_direct:14.1f}", f"{t_cli / t_direct:13.2f}×",
                 f"{t_cold:14.1f}", f"{t_warm:14.1f}", f"{t_inproc:14.1f}",
                 f"{t_cold / t_inproc:13.2f}×", f"{t_warm / t_inproc:13.2f}×"]
        print(f"{name:<22}  " + "  ".join(cells))
    print("\nCPU time of the process (user + system), ms:")
    for name, c_cli, c_direct in cpu:
        print(f"{name:<22}  alnm-ray sql {c_cli:8.1f}  duckdb direct {c_direct:8.1f}  "
              f"CLI/direct {c_cli / c_direct:5.2f}×")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    worst = max(t_cli / t_direct for _, t_cli, t_direct, *_ in rows)
    print(f"\nCLI / DuckDB direct, start-up included: worst {worst:.2f}× (goal <= 1.3×: "
          f"{'met' if worst <= 1.3 else 'NOT met'})")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"args": vars(args), "figures": figures}, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
