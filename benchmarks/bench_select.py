"""Benchmark: in-fold feature selection (guo2024 preset) per step, before vs now, one core.

One training fold at the paper's size: ``--patients`` (189) patients x
``--features`` (3,000) radiomics-like features over three sequences --
correlated blocks of ten, a few informative latent factors, half the
features log-normal (skewed, so the univariate step takes both its
t-test and its Mann-Whitney branch) -- plus readers B and A2 for 30 patients
(the ICC step).  Each step of the guo2024 pipeline (ICC -> SMOTE -> z-score
-> univariate -> Spearman -> mRMR -> LASSO 20 x 10-fold) is fitted on the
same input twice, in alternating order:

* ``before`` -- the estimators as they were at ``--before`` (a git commit;
  their module source is loaded from ``git show`` into a throw-away module);
* ``now`` -- the estimators of the working tree.

Both get the output of the current previous step as input, so every step is
timed on identical data, and the selected columns are compared (they must be
identical, in the same order).  BLAS/OpenMP run single-threaded
(``threadpoolctl``).  Reported: the best of ``--runs`` runs per step (ms) for
each of ``--tables`` seeded tables (each a different fold), the ratio, and the
load average, since the development machine is shared.

Usage::

    .venv/bin/python benchmarks/bench_select.py                      # 189 x 3000, 3 tables
    .venv/bin/python benchmarks/bench_select.py --tables 1 --runs 5 --json out.json
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alnm_ray.select.icc import ReaderRatings  # noqa: E402
from alnm_ray.select.pipeline import build_selection_pipeline  # noqa: E402

#: The last commit before the selection speed-ups (the "before" code).
BEFORE_COMMIT = "1263f6a"
#: Step name in the pipeline -> module of alnm_ray.select defining its estimator.
STEP_MODULES = {"icc": "icc", "smote": "smote", "zscore": "scale", "univariate": "univariate",
                "spearman": "correlation", "mrmr": "mrmr", "lasso": "lasso"}
SEQUENCES = ("T2WI", "ADC", "DCE_P2")
BLOCK = 10  # features per correlated block (one latent factor each)


def synthetic_fold(n: int, p: int, seed: int) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """Training rows ``(X, y)`` and the long reader table (A for all, B/A2 for 30 patients)."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.433).astype(int)
    per = p // len(SEQUENCES)
    ids = [f"P{i:04d}" for i in range(n)]
    icc_ids = np.sort(rng.choice(n, size=min(30, n), replace=False))
    blocks, cols, frames = [], [], []
    for seq in SEQUENCES:
        latent = rng.normal(size=(n, -(-per // BLOCK)))
        latent[:, :3] += 0.6 * y[:, None]  # a few informative factors per sequence
        load = rng.uniform(0.5, 1.0, per)
        noise = rng.uniform(0.05, 1.0, per)
        vals = np.repeat(latent, BLOCK, axis=1)[:, :per] * load + rng.normal(size=(n, per)) * noise
        skewed = rng.random(per) < 0.5
        vals[:, skewed] = np.exp(0.7 * vals[:, skewed])
        blocks.append(vals)
        feats = [f"original_glcm_F{j:04d}" for j in range(per)]
        cols += [f"{seq}__{f}" for f in feats]
        unreliable = rng.random(per) < 0.3
        for reader in ("A", "B", "A2"):
            idx = np.arange(n) if reader == "A" else icc_ids
            extra = 0.0 if reader == "A" else rng.normal(size=(idx.size, per)) * np.where(
                unreliable, 1.0, 0.02) * vals.std(axis=0)
            f = pd.DataFrame(vals[idx] + extra, columns=feats)
            f.insert(0, "patient_id", [ids[i] for i in idx])
            f.insert(1, "sequence", seq)
            f.insert(2, "reader", reader)
            frames.append(f)
    X = pd.DataFrame(np.hstack(blocks), columns=cols, index=pd.Index(ids, name="patient_id"))
    return X, y, pd.concat(frames, ignore_index=True)


def load_before(commit: str) -> dict[str, types.ModuleType]:
    """The estimator modules as of ``commit``, each loaded into a fresh module object."""
    out = {}
    for mod in sorted(set(STEP_MODULES.values())):
        path = f"alnm_ray/select/{mod}.py"
        try:
            src = subprocess.run(["git", "-C", str(ROOT), "show", f"{commit}:{path}"],
                                 capture_output=True, text=True, encoding="utf-8", check=True).stdout
        except (OSError, subprocess.CalledProcessError) as exc:
            raise SystemExit(f"bench_select: cannot read {path} at commit {commit!r} ({exc}); "
                             "expected a git checkout with that history. Pass --before "
                             "<commit> of this repository.") from exc
        module = types.ModuleType(f"_before_{mod}")
        module.__file__ = f"{commit}:{path}"
        sys.modules[module.__name__] = module
        exec(compile(src, module.__file__, "exec"), module.__dict__)
        out[mod] = module
    return out


def _apply(step: Any, X: Any, y: np.ndarray) -> tuple[Any, np.ndarray]:
    if hasattr(step, "fit_resample"):
        return step.fit_resample(X, y)
    return step.fit(X, y).transform(X), y


def _selected(step: Any, X_out: Any) -> list[str]:
    return list(getattr(step, "ranking_", None) or [str(c) for c in X_out.columns])


def run_table(seed: int, args: argparse.Namespace, before: dict[str, types.ModuleType]
              ) -> list[dict[str, Any]]:
    X, y, readers = synthetic_fold(args.patients, args.features, seed)
    ratings = ReaderRatings(readers)
    cfg = {"preset": "guo2024", "lasso_repeats": args.lasso_repeats,
           "lasso_folds": args.lasso_folds}
    pipe = build_selection_pipeline(cfg, reader_table=ratings, kinds={"radiomics"}, seed=seed)
    # Each side reads the readers through its own ReaderRatings, built once per fold table.
    before_ratings = before["icc"].ReaderRatings(readers)
    rows = []
    Xc, yc = X, y
    for name, now_step in pipe.steps:
        cls = getattr(before[STEP_MODULES[name]], type(now_step).__name__)
        params = now_step.get_params(deep=False)
        before_params = {k: (before_ratings if v is ratings else v) for k, v in params.items()}
        best = {"before": np.inf, "now": np.inf}
        outs: dict[str, Any] = {}
        for run in range(args.runs):
            for which in (("before", "now") if run % 2 == 0 else ("now", "before")):
                est = cls(**before_params) if which == "before" else type(now_step)(**params)
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    t0 = time.perf_counter()
                    out = _apply(est, Xc, yc)
                    best[which] = min(best[which], time.perf_counter() - t0)
                outs[which] = (est, out)
        (b_est, (b_X, _)), (n_est, (n_X, n_y)) = outs["before"], outs["now"]
        same = _selected(b_est, b_X) == _selected(n_est, n_X) and b_X.shape == n_X.shape
        if name == "lasso":
            same = same and b_est.alpha_ == n_est.alpha_
        rows.append({"table": seed, "step": name, "before_ms": 1e3 * best["before"],
                     "now_ms": 1e3 * best["now"], "out_features": int(n_X.shape[1]),
                     "identical": bool(same)})
        Xc, yc = n_X, n_y
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--patients", type=int, default=189)
    ap.add_argument("--features", type=int, default=3000)
    ap.add_argument("--tables", type=int, default=3, help="Seeded tables (folds) to time.")
    ap.add_argument("--runs", type=int, default=3, help="Runs per step; the best is reported.")
    ap.add_argument("--lasso-repeats", type=int, default=20)
    ap.add_argument("--lasso-folds", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--before", default=BEFORE_COMMIT, help="Commit holding the 'before' code.")
    ap.add_argument("--json", default=None, help="Write the figures to this JSON file.")
    args = ap.parse_args()
    before = load_before(args.before)
    load = os.getloadavg()
    print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; CPUs "
          f"{os.cpu_count()}; one BLAS thread", flush=True)
    print(f"guo2024 selection, {args.patients} patients x {args.features} features, LASSO "
          f"{args.lasso_repeats} x {args.lasso_folds}-fold; best of {args.runs} runs; "
          f"before = {args.before}", flush=True)
    rows: list[dict[str, Any]] = []
    with threadpool_limits(limits=1):
        for t in range(args.tables):
            rows += run_table(args.seed + t, args, before)
    df = pd.DataFrame(rows)
    per_step = df.groupby("step", sort=False).agg(
        before_ms=("before_ms", "median"), now_ms=("now_ms", "median"),
        out_features=("out_features", "median"), identical=("identical", "all"))
    totals = df.groupby("table")[["before_ms", "now_ms"]].sum()
    per_step.loc["total per fold"] = [totals.before_ms.median(), totals.now_ms.median(),
                                      np.nan, bool(df.identical.all())]
    per_step["ratio"] = per_step.before_ms / per_step.now_ms
    print(f"\n{'step':<15}{'before ms':>11}{'now ms':>9}{'speed-up':>10}{'features out':>14}"
          f"{'identical':>11}   (median over {args.tables} table(s))")
    for step, r in per_step.iterrows():
        out = "" if np.isnan(r.out_features) else f"{int(r.out_features)}"
        print(f"{step:<15}{r.before_ms:>11.1f}{r.now_ms:>9.1f}{r.ratio:>9.1f}x{out:>14}"
              f"{'yes' if r.identical else 'NO':>11}")
    end = os.getloadavg()
    print(f"\nload average at end: {end[0]:.2f} {end[1]:.2f} {end[2]:.2f}", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps({
            "args": vars(args), "load_average_start": load, "load_average_end": end,
            "rows": rows, "per_step": per_step.reset_index().to_dict(orient="records")},
            indent=1, default=float), encoding="utf-8")
    if not df.identical.all():
        raise SystemExit("bench_select: a step selected different features before and now")


if __name__ == "__main__":
    main()
