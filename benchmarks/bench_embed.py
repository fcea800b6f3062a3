"""Deep-embedding throughput: a naive per-volume loop vs in-process batching vs the Ray Data actor pool.

For each batch size (default 1, 4, 8) it measures volumes per second of

* ``loop``: the model built once in this process, one forward pass per volume
  (the naive script most research code runs);
* ``batched``: the same process, ``batch`` volumes per forward pass (the
  model-only ceiling of one worker);
* ``actor``: one :class:`alnm_ray.embed.actor.EmbedActor` called in this
  process with ``batch`` volumes per call, as the job hands them over (float32
  bytes): the model-only ceiling plus the actor's own batching cost;
* ``pool``: ``--pool`` EmbedActors in a Ray Data actor pool (``map_batches``,
  a fixed pool started before the clock's stop matters), end to end including
  actor start-up;
* ``pool_steady``: the pool once every actor has returned its first batch:
  volumes finished after that / time to the last one (actor start-up and
  model load excluded; timestamps taken in the actors).

The ratio ``pool_steady / batched`` is the pool's speed-up over batching in
one process (goal: >= 1 with one worker per core, growing with the pool).

``--device cuda`` times the in-process columns on the GPU (batch sizes
default to 1 8 32 64) and skips the pool when Ray is not installed, so the
script runs in one command on a GPU machine without Ray::

    python benchmarks/bench_embed.py --device cuda --volumes 256

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
    python benchmarks/bench_embed.py --device cuda              # GPU, in-process (pool too if Ray is there)
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
    """EmbedActor that stamps each output batch with its completion time (s since the epoch) and its process."""

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().__call__(batch)
        out["_done"] = np.full(len(out[COL_EMBEDDING]), time.time())
        out["_pid"] = np.full(len(out[COL_EMBEDDING]), os.getpid())
        return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def bench_loop(vols: np.ndarray, batch: int, threads: int, repeats: int, extractor: str = "resnet18_3d",
               device: str = "cpu") -> float:
    """Best-of-``repeats`` seconds for one in-process pass over ``vols`` in batches of ``batch``."""
    set_torch_threads(threads)
    spec = EXTRACTORS[extractor]
    model = spec.build(seed=0).to(device).eval()
    embed_inputs(model, vols[:batch], spatial_dims=spec.spatial_dims, device=device)  # warm-up; not measured
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for i in range(0, len(vols), batch):
            embed_inputs(model, vols[i:i + batch], spatial_dims=spec.spatial_dims, device=device)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best


def _config(vols: np.ndarray, batch: int, threads: int, extractor: str) -> EmbedConfig:
    grid = int(vols.shape[-1])
    two_d = vols.ndim == 3
    return EmbedConfig(grid=max(grid, 8), lift_depth=min(8, max(grid, 8)), batch_size=batch, torch_threads=threads,
                       extractor=extractor, **({"grid_2d": grid} if two_d else {}))


def _rows(vols: np.ndarray) -> list[dict[str, Any]]:
    return [{"_row": i, COL_VOLUME: v.tobytes(), COL_SHAPE: [0] * (3 - v.ndim) + list(v.shape), COL_ERROR_TYPE: "",
             COL_ERROR_MESSAGE: ""} for i, v in enumerate(vols)]


def bench_actor(vols: np.ndarray, batch: int, threads: int, repeats: int, extractor: str = "resnet18_3d",
                device: str = "cpu") -> float:
    """Best-of-``repeats`` seconds for one EmbedActor in this process over ``vols``, ``batch`` per call."""
    actor = EmbedActor(_config(vols, batch, threads, extractor).to_dict(), in_ray=False, device=device)
    rows = _rows(vols)
    batches = [{k: np.array([r[k] for r in rows[i:i + batch]], dtype=object if k in (COL_VOLUME, COL_ERROR_TYPE,
                                                                                    COL_ERROR_MESSAGE) else None)
                for k in rows[0]} for i in range(0, len(rows), batch)]
    actor(batches[0])  # warm-up; not measured
    best = float("inf")
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        for b in batches:
            actor(b)
        _sync(device)
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

    cfg = _config(vols, batch, threads, extractor)
    rows = _rows(vols)
    start = time.perf_counter()
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // batch))
    # A fixed pool: from_items runs no read tasks, so actors on every CPU cannot starve one.
    ds = ds.map_batches(TimedEmbedActor, batch_size=batch, batch_format="numpy",
                        compute=ActorPoolStrategy(min_size=pool, max_size=pool),
                        fn_constructor_kwargs={"config": cfg.to_dict()}, num_cpus=1)
    out = list(ds.iter_batches(batch_size=None, batch_format="numpy"))
    elapsed = time.perf_counter() - start
    done, pid = np.concatenate([b["_done"] for b in out]), np.concatenate([b["_pid"] for b in out])
    assert len(done) == len(vols), f"pool returned {len(done)} of {len(vols)} volumes"
    warm = max(done[pid == p].min() for p in np.unique(pid))  # every actor has returned a batch
    after = done[done > warm]
    steady = len(after) / (after.max() - warm) if len(after) else float("nan")
    return elapsed, steady


def run(volumes: int, grid: int, batches: list[int], pool: int, threads: int, cpus: int,
        seed: int, repeats: int, extractor: str = "resnet18_3d", device: str = "cpu",
        with_pool: bool = True) -> list[dict[str, Any]]:
    """Measure every configuration; one dict per batch size.

    In-process timings come first, before Ray starts, so Ray's processes do
    not compete with them for the cores.
    """
    vols = make_volumes(volumes, grid, seed, EXTRACTORS[extractor].spatial_dims)
    loop_s = bench_loop(vols, 1, threads, repeats, extractor, device)
    results = [{"batch": b, "loop": volumes / loop_s,
                "batched": volumes / bench_loop(vols, b, threads, repeats, extractor, device),
                "actor": volumes / bench_actor(vols, b, threads, repeats, extractor, device),
                "pool": float("nan"), "pool_steady": float("nan"), "pool_wall_s": float("nan")} for b in batches]
    if device.startswith("cuda"):
        import torch

        for r in results:
            r["device"] = torch.cuda.get_device_name(0)
    if not with_pool:
        return results
    import ray

    from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray

    init_ray(RayConfig(num_cpus=cpus, quiet=True))
    try:
        ray.data.DataContext.get_current().enable_progress_bars = False
        for r in results:
            pool_s, steady = bench_pool(vols, r["batch"], pool, threads, extractor)
            r.update(pool=volumes / pool_s, pool_steady=steady, pool_wall_s=pool_s)
    finally:
        shutdown_ray()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", choices=EXTRACTOR_NAMES, default="resnet18_3d",
                        help="network to time (2-D extractors get grid x grid images)")
    parser.add_argument("--volumes", type=int, default=48)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batch sizes (default 1 4 8; with --device cuda 1 8 32 64)")
    parser.add_argument("--device", default="cpu", help="torch device of the in-process columns (cpu, cuda)")
    parser.add_argument("--no-pool", action="store_true", help="skip the Ray actor pool")
    parser.add_argument("--pool", type=int, default=2, help="largest actor pool (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per worker")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of the embedded Ray")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=3, help="in-process timings: best of this many")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    cuda = args.device.startswith("cuda")
    batches = args.batches or ([1, 8, 32, 64] if cuda else [1, 4, 8])
    try:
        import ray  # noqa: F401
        has_ray = True
    except ImportError:
        has_ray = False
    with_pool = not args.no_pool and has_ray
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    results = run(args.volumes, args.grid, batches, args.pool, args.threads, args.cpus, args.seed,
                  args.repeats, args.extractor, args.device, with_pool)
    unit = "²" if EXTRACTORS[args.extractor].spatial_dims == 2 else "³"
    print(f"{args.extractor} embeddings, {args.volumes} inputs of {args.grid}{unit} on {args.device}, "
          f"{args.threads} torch thread(s)/worker, pool of {args.pool} CPU actor(s) on {args.cpus} Ray CPUs"
          f"{'' if with_pool else ' (skipped)'}; volumes/s; load average {load} -> "
          + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"{'batch':>5} {'loop':>8} {'batched':>8} {'actor':>8} {'pool':>8} {'pool_steady':>12} {'pool wall s':>12}"
          f" {'steady/batched':>15}")
    for r in results:
        r["pool_steady_over_batched"] = r["pool_steady"] / r["batched"]
        print(f"{r['batch']:>5} {r['loop']:>8.2f} {r['batched']:>8.2f} {r['actor']:>8.2f} {r['pool']:>8.2f} "
              f"{r['pool_steady']:>12.2f} {r['pool_wall_s']:>12.1f} {r['pool_steady_over_batched']:>15.2f}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
