"""Deep-embedding throughput on CPU: a naive per-volume loop vs the Ray Data actor pool.

For each batch size (default 1, 4, 8) it measures volumes per second of

* ``loop``: the model built once in this process, one forward pass per volume
  (the naive script most research code runs);
* ``batched``: the same process, ``batch`` volumes per forward pass (the
  model-only ceiling of one worker);
* ``pool``: :class:`alnm_ray.embed.actor.EmbedActor` in a Ray Data actor pool
  (``map_batches``), volumes handed over as the job hands them (float32 bytes),
  end to end including actor start-up;
* ``pool_steady``: the pool after its first batch came back: volumes after
  the first batch / time from the first to the last batch (actor start-up
  and model load excluded; timestamps taken in the actors).

Every worker uses ``--threads`` torch threads (default 1, like the job's
actors), so the comparison is per core.  Inputs are synthetic z-scored
``grid``³ volumes (``--extractor resnet18_3d``, the default) or ``grid``²
images (the 2-D extractors ``resnet18_2d`` and ``vgg19_2d``; use
``--grid 224`` for their default grid): this measures inference, not
reading or preprocessing.

Usage::

    .venv/bin/python benchmarks/bench_embed.py                # 48 volumes of 64³, 2 CPUs
    .venv/bin/python benchmarks/bench_embed.py --volumes 16 --grid 32 --json out.json
    .venv/bin/python benchmarks/bench_embed.py --extractor vgg19_2d --grid 224 --volumes 16
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

import numpy as np

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..")))

from alnm_ray.embed.actor import (  # noqa: E402
    COL_EMBEDDING, COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_SHAPE, COL_VOLUME, EmbedActor,
)
from alnm_ray.embed.config import EmbedConfig  # noqa: E402
from alnm_ray.embed.extractors import EXTRACTOR_NAMES, EXTRACTORS  # noqa: E402
from alnm_ray.embed.model import embed_inputs, set_torch_threads  # noqa: E402


def make_volumes(n: int, grid: int, seed: int, spatial_dims: int = 3) -> np.ndarray:
    """``n`` z-scored float32 volumes of ``grid``³ (or images of ``grid``² when ``spatial_dims`` is 2)."""
    rng = np.random.default_rng(seed)
    vols = rng.normal(size=(n, *([grid] * spatial_dims))).astype(np.float32)
    axes = tuple(range(1, spatial_dims + 1))
    return (vols - vols.mean(axis=axes, keepdims=True)) / vols.std(axis=axes, keepdims=True)


class TimedEmbedActor(EmbedActor):
    """EmbedActor that stamps each output batch with its completion time (s since the epoch)."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().__call__(batch)
        out["_done"] = np.full(len(out[COL_EMBEDDING]), time.time())
        return out


def bench_loop(vols: np.ndarray, batch: int, threads: int, repeats: int, extractor: str = "resnet18_3d") -> float:
    """Best-of-``repeats`` seconds for one in-process pass over ``vols`` in batches of ``batch``."""
    set_torch_threads(threads)
    spec = EXTRACTORS[extractor]
    model = spec.build(seed=0)
    embed_inputs(model, vols[:batch], spatial_dims=spec.spatial_dims)  # first call allocates; not measured
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for i in range(0, len(vols), batch):
            embed_inputs(model, vols[i:i + batch], spatial_dims=spec.spatial_dims)
        best = min(best, time.perf_counter() - start)
    return best


def bench_pool(vols: np.ndarray, batch: int, pool: int, threads: int,
               extractor: str = "resnet18_3d") -> tuple[float, float]:
    """Ray Data actor-pool pass over ``vols``.

    Returns:
        ``(end_to_end_s, steady_volumes_per_s)``.
    """
    import ray
    from ray.data import ActorPoolStrategy

    grid = int(vols.shape[-1])
    two_d = vols.ndim == 3
    cfg = EmbedConfig(grid=max(grid, 8), lift_depth=min(8, max(grid, 8)), batch_size=batch, torch_threads=threads,
                      extractor=extractor, **({"grid_2d": grid} if two_d else {}))
    rows = [{"_row": i, COL_VOLUME: v.tobytes(), COL_SHAPE: [0] * (3 - v.ndim) + list(v.shape), COL_ERROR_TYPE: "",
             COL_ERROR_MESSAGE: ""} for i, v in enumerate(vols)]
    start = time.perf_counter()
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // batch))
    ds = ds.map_batches(TimedEmbedActor, batch_size=batch, batch_format="numpy",
                        compute=ActorPoolStrategy(min_size=1, max_size=pool),
                        fn_constructor_kwargs={"config": cfg.to_dict()}, num_cpus=1)
    done = np.concatenate([b["_done"] for b in ds.iter_batches(batch_size=None, batch_format="numpy")])
    elapsed = time.perf_counter() - start
    assert len(done) == len(vols), f"pool returned {len(done)} of {len(vols)} volumes"
    done.sort()
    first = done[batch - 1] if len(done) > batch else done[0]
    steady = (len(done) - batch) / (done[-1] - first) if done[-1] > first else float("nan")
    return elapsed, steady


def run(volumes: int, grid: int, batches: list[int], pool: int, threads: int, cpus: int,
        seed: int, repeats: int, extractor: str = "resnet18_3d") -> list[dict[str, Any]]:
    """Measure every configuration; one dict per batch size.

    In-process timings come first, before Ray starts, so Ray's processes do
    not compete with them for the cores.
    """
    import ray

    from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray

    vols = make_volumes(volumes, grid, seed, EXTRACTORS[extractor].spatial_dims)
    loop_s = bench_loop(vols, 1, threads, repeats, extractor)
    batched_s = {b: bench_loop(vols, b, threads, repeats, extractor) for b in batches}
    results = []
    init_ray(RayConfig(num_cpus=cpus, quiet=True))
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        for b in batches:
            pool_s, steady = bench_pool(vols, b, pool, threads, extractor)
            results.append({"batch": b, "loop": volumes / loop_s, "batched": volumes / batched_s[b],
                            "pool": volumes / pool_s, "pool_steady": steady, "pool_wall_s": pool_s})
    finally:
        shutdown_ray()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", choices=EXTRACTOR_NAMES, default="resnet18_3d",
                        help="network to time (2-D extractors get grid x grid images)")
    parser.add_argument("--volumes", type=int, default=48)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--pool", type=int, default=2, help="largest actor pool (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the embedded Ray")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="in-process timings: best of this many")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    results = run(args.volumes, args.grid, args.batches, args.pool, args.threads, args.cpus, args.seed,
                  args.repeats, args.extractor)
    unit = "²" if EXTRACTORS[args.extractor].spatial_dims == 2 else "³"
    print(f"{args.extractor} embeddings, {args.volumes} inputs of {args.grid}{unit}, {args.threads} torch thread(s)/worker, "
          f"pool up to {args.pool} CPU actor(s) on {args.cpus} Ray CPUs; volumes/s")
    print(f"{'batch':>5} {'loop':>8} {'batched':>8} {'pool':>8} {'pool_steady':>12} {'pool wall s':>12}")
    for r in results:
        print(f"{r['batch']:>5} {r['loop']:>8.2f} {r['batched']:>8.2f} {r['pool']:>8.2f} "
              f"{r['pool_steady']:>12.2f} {r['pool_wall_s']:>12.1f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
