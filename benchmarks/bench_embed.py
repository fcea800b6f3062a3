"""Deep-embedding throughput: in-process batching vs the Ray Data actor pool, steady state and end to end.

For each batch size it measures volumes per second of

* ``batched``: the model built once in this process, ``batch`` volumes per
  forward pass, ``--threads`` torch threads (the model-only ceiling of one
  pool worker);
* ``batched_all``: the same with ``--cpus`` torch threads: the in-process
  script a user would run on the cores the pool gets (torch's default on a
  machine of that many cores);
* ``actor``: one :class:`alnm_ray.embed.actor.EmbedActor` called in this
  process with ``batch`` volumes per call, as the job hands them over (float32
  bytes), ``--threads`` threads: the model-only ceiling plus the actor's own
  batching cost;
* ``script``: end to end, a fresh Python process that imports torch and the
  network, builds it and embeds every volume with ``--cpus`` threads (the
  volumes are read from one ``.npy`` file), timed from its launch to its exit;
* ``pool``: end to end, ``--pool`` EmbedActors with ``--threads`` threads in
  a Ray Data actor pool (``map_batches``, a fixed pool), from building the
  dataset to the last batch: actor start-up (torch import, network build)
  included, the embedded Ray's own start (reported as ``ray_init_s``) not;
* ``pool_steady``: the pool once every actor has returned its first batch:
  volumes finished after that / time to the last one (timestamps taken in the
  actors);

and checks that the pool's embeddings equal the in-process ones.  Ratios:
``pool_steady / batched_all`` (steady state) and ``pool / script`` (end to
end); the goal is >= 1 with one worker per core.

Ray runs its workers at niceness 15 (its ``worker_niceness``) so that its own
services stay responsive; next to other work at niceness 0, pool actors at 15
would get a small share of the cores while the in-process columns run at this
process's niceness.  So the embedded Ray is started with its workers at this
process's niceness (``--worker-niceness``, default: the same) and the two sides
compete on equal terms.  (On a 2-core machine loaded mostly by other Ray
workers, themselves at 15, 0 and 15 measured alike: 5.4 and 5.9 volumes/s.)

``--device cuda`` times the in-process columns on the GPU (batch sizes
default to 8 32 64), and the pool uses GPU actors sharing the GPUs Ray finds
(skipped when Ray is not installed), so the script runs in one command on a GPU
machine::

    python benchmarks/bench_embed.py --device cuda --volumes 512

The GPU ``actor`` column also reports the forward-pass size the actor chose
from the device's free memory (``gpu_pass``).  Inputs are synthetic z-scored
``grid``³ volumes (``--extractor resnet18_3d``, the default) or ``grid``²
images (the 2-D extractors ``resnet18_2d`` and ``vgg19_2d``; use
``--grid 224`` for their default grid): this measures inference, not reading
or preprocessing.

Usage::

    .venv/bin/python benchmarks/bench_embed.py                # 240 volumes of 64³, 2 CPUs
    .venv/bin/python benchmarks/bench_embed.py --volumes 32 --grid 32 --batches 4 --json out.json
    .venv/bin/python benchmarks/bench_embed.py --extractor vgg19_2d --grid 224 --volumes 64
    python benchmarks/bench_embed.py --device cuda              # GPU, in-process (pool too if Ray is there)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, ROOT)

from alnm_ray.embed.actor import (  # noqa: E402
    COL_EMBEDDING, COL_ERROR_MESSAGE, COL_ERROR_TYPE, COL_SHAPE, COL_VOLUME, EmbedActor,
)
from alnm_ray.embed.config import EmbedConfig  # noqa: E402
from alnm_ray.embed.extractors import EXTRACTOR_NAMES, EXTRACTORS  # noqa: E402
from alnm_ray.embed.model import embed_inputs, set_torch_threads  # noqa: E402

#: The fresh process of the ``script`` column: argv = volumes.npy, extractor, batch, threads, device.
SCRIPT = """
import sys
import numpy as np
import torch
from alnm_ray.embed.extractors import EXTRACTORS
from alnm_ray.embed.model import embed_inputs
path, name, batch, threads, device = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
torch.set_num_threads(threads)
vols = np.load(path)
spec = EXTRACTORS[name]
model = spec.build(seed=0).to(device).eval()
out = [embed_inputs(model, vols[i:i + batch], spatial_dims=spec.spatial_dims, device=device)
       for i in range(0, len(vols), batch)]
assert sum(len(o) for o in out) == len(vols)
"""


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
               device: str = "cpu") -> tuple[float, np.ndarray]:
    """Best-of-``repeats`` seconds for one in-process pass over ``vols`` in batches of ``batch``, and the embeddings."""
    set_torch_threads(threads)
    spec = EXTRACTORS[extractor]
    model = spec.build(seed=0).to(device).eval()
    embed_inputs(model, vols[:batch], spatial_dims=spec.spatial_dims, device=device)  # warm-up; not measured
    best, out = float("inf"), []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        out = [embed_inputs(model, vols[i:i + batch], spatial_dims=spec.spatial_dims, device=device)
               for i in range(0, len(vols), batch)]
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return best, np.concatenate(out)


def _config(vols: np.ndarray, batch: int, threads: int, extractor: str) -> EmbedConfig:
    grid = int(vols.shape[-1])
    two_d = vols.ndim == 3
    return EmbedConfig(grid=max(grid, 8), lift_depth=min(8, max(grid, 8)), batch_size=batch, torch_threads=threads,
                       extractor=extractor, **({"grid_2d": grid} if two_d else {}))


def _rows(vols: np.ndarray) -> list[dict[str, Any]]:
    return [{"_row": i, COL_VOLUME: v.tobytes(), COL_SHAPE: [0] * (3 - v.ndim) + list(v.shape), COL_ERROR_TYPE: "",
             COL_ERROR_MESSAGE: ""} for i, v in enumerate(vols)]


def bench_actor(vols: np.ndarray, batch: int, threads: int, repeats: int, extractor: str = "resnet18_3d",
                device: str = "cpu") -> tuple[float, int | None]:
    """Best-of-``repeats`` seconds for one EmbedActor in this process over ``vols``, ``batch`` per call.

    Returns:
        ``(seconds, forward-pass size the actor chose on a GPU or None)``.
    """
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
    return best, (min(actor.pass_sizes.values()) if actor.pass_sizes else None)


def bench_script(path: str, n: int, batch: int, threads: int, extractor: str, device: str) -> float:
    """Seconds from launching a fresh Python process that embeds the ``n`` volumes in ``path`` to its exit."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", SCRIPT, path, extractor, str(batch), str(threads), device], check=True,
                   env=env)
    return time.perf_counter() - start


def bench_pool(vols: np.ndarray, batch: int, pool: int, threads: int, extractor: str = "resnet18_3d",
               gpus: float = 0.0) -> tuple[float, float, float, np.ndarray]:
    """Ray Data actor-pool pass over ``vols`` (GPU actors sharing ``gpus`` GPUs when it is positive).

    Returns:
        ``(end_to_end_s, steady_volumes_per_s, start_up_s, embeddings in input order)``; start-up is the
        time until every actor has returned a batch.
    """
    import ray
    from ray.data import ActorPoolStrategy

    from alnm_ray.embed.job import TASKS_PER_ACTOR

    cfg = _config(vols, batch, threads, extractor)
    rows = _rows(vols)
    remote: dict[str, Any] = {"num_cpus": 1}
    if gpus > 0:
        remote["num_gpus"] = gpus / pool
    start = time.time()
    ds = ray.data.from_items(rows, override_num_blocks=max(1, len(rows) // batch))
    # A fixed pool: from_items runs no read tasks, so actors on every CPU cannot starve one.
    ds = ds.map_batches(TimedEmbedActor, batch_size=batch, batch_format="numpy",
                        compute=ActorPoolStrategy(min_size=pool, max_size=pool,
                                                  max_tasks_in_flight_per_actor=TASKS_PER_ACTOR),
                        fn_constructor_kwargs={"config": cfg.to_dict()}, **remote)
    out = list(ds.iter_batches(batch_size=None, batch_format="numpy"))
    elapsed = time.time() - start
    done, pid = np.concatenate([b["_done"] for b in out]), np.concatenate([b["_pid"] for b in out])
    assert len(done) == len(vols), f"pool returned {len(done)} of {len(vols)} volumes"
    warm = max(done[pid == p].min() for p in np.unique(pid))  # every actor has returned a batch
    after = done[done > warm]
    steady = len(after) / (after.max() - warm) if len(after) else float("nan")
    emb = np.empty((len(vols), out[0][COL_EMBEDDING].shape[1]), dtype=np.float32)
    emb[np.concatenate([b["_row"] for b in out])] = np.concatenate([b[COL_EMBEDDING] for b in out])
    if len(np.unique(pid)) < pool:
        steady = float("nan")  # an actor never got a batch: no steady state of the whole pool
    return elapsed, steady, warm - start, emb


def run(volumes: int, grid: int, batches: list[int], pool: int, threads: int, cpus: int,
        seed: int, repeats: int, extractor: str = "resnet18_3d", device: str = "cpu",
        with_pool: bool = True, worker_niceness: int | None = None) -> list[dict[str, Any]]:
    """Measure every configuration; one dict per batch size.

    Ray starts first, so its (idle) services run during every column alike;
    then, batch size by batch size, the in-process columns and the pool run
    one after the other, so a change in the machine's load hits a batch
    size's columns alike.
    """
    cuda = device.startswith("cuda")
    vols = make_volumes(volumes, grid, seed, EXTRACTORS[extractor].spatial_dims)
    info: dict[str, Any] = {"ray_init_s": float("nan")}
    if cuda:
        import torch

        info["device"] = torch.cuda.get_device_name(0)
    if with_pool:
        import ray

        from alnm_ray.runtime import RayConfig, init_ray

        if worker_niceness is not None:
            os.environ["RAY_worker_niceness"] = str(worker_niceness)  # the raylet reads it when it starts
        t0 = time.perf_counter()
        init_ray(RayConfig(num_cpus=cpus, quiet=True))
        info["ray_init_s"] = time.perf_counter() - t0
        ray.data.DataContext.get_current().enable_progress_bars = False
        gpus = float(ray.cluster_resources().get("GPU", 0.0)) if cuda else 0.0
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "volumes.npy")
        np.save(path, vols)
        try:
            for b in batches:
                r: dict[str, Any] = {"batch": b, **info}
                sec, ref = bench_loop(vols, b, threads, repeats, extractor, device)
                r["batched"] = volumes / sec
                r["batched_all"] = (r["batched"] if cuda or cpus == threads else
                                    volumes / bench_loop(vols, b, cpus, repeats, extractor, device)[0])
                sec, r["gpu_pass"] = bench_actor(vols, b, threads, repeats, extractor, device)
                r["actor"] = volumes / sec
                r["script"] = volumes / bench_script(path, volumes, b, cpus, extractor, device)
                r.update(pool=float("nan"), pool_steady=float("nan"), pool_wall_s=float("nan"),
                         pool_start_s=float("nan"), pool_max_abs_diff=float("nan"))
                if with_pool:
                    pool_s, steady, start_s, emb = bench_pool(vols, b, pool, threads, extractor, gpus)
                    r.update(pool=volumes / pool_s, pool_steady=steady, pool_wall_s=pool_s, pool_start_s=start_s,
                             pool_max_abs_diff=float(np.abs(emb - ref).max()))
                    np.testing.assert_allclose(emb, ref, rtol=1e-4, atol=1e-4)  # same embeddings as in-process
                results.append(r)
        finally:
            if with_pool:
                from alnm_ray.runtime import shutdown_ray

                shutdown_ray()
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--extractor", choices=EXTRACTOR_NAMES, default="resnet18_3d",
                        help="network to time (2-D extractors get grid x grid images)")
    parser.add_argument("--volumes", type=int, default=240)
    parser.add_argument("--grid", type=int, default=64)
    parser.add_argument("--batches", type=int, nargs="+", default=None,
                        help="batch sizes (default 4 8; with --device cuda 8 32 64)")
    parser.add_argument("--device", default="cpu", help="torch device of the in-process columns (cpu, cuda)")
    parser.add_argument("--no-pool", action="store_true", help="skip the Ray actor pool")
    parser.add_argument("--pool", type=int, default=2, help="actors in the pool (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads per pool worker")
    parser.add_argument("--cpus", type=int, default=2,
                        help="CPUs of the embedded Ray, and torch threads of the batched_all and script columns")
    parser.add_argument("--worker-niceness", type=int, default=None,
                        help="niceness of Ray's workers (default: this process's; Ray's own default is 15)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeats", type=int, default=1, help="in-process timings: best of this many")
    parser.add_argument("--json", default=None, help="also write the results to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    cuda = args.device.startswith("cuda")
    batches = args.batches or ([8, 32, 64] if cuda else [4, 8])
    if cuda:
        import torch

        if not torch.cuda.is_available():
            parser.error(f"--device {args.device}: torch {torch.__version__} sees no CUDA device here; "
                         "run on a GPU machine or use --device cpu")
    try:
        import ray  # noqa: F401
        has_ray = True
    except ImportError:
        has_ray = False
    with_pool = not args.no_pool and has_ray
    niceness = os.nice(0) if args.worker_niceness is None else args.worker_niceness
    load = " ".join(f"{v:.1f}" for v in os.getloadavg())
    results = run(args.volumes, args.grid, batches, args.pool, args.threads, args.cpus, args.seed,
                  args.repeats, args.extractor, args.device, with_pool, niceness)
    unit = "²" if EXTRACTORS[args.extractor].spatial_dims == 2 else "³"
    where = results[0].get("device", args.device) if results else args.device
    print(f"{args.extractor} embeddings, {args.volumes} inputs of {args.grid}{unit} on {where}; pool of "
          f"{args.pool} actor(s) x {args.threads} torch thread(s) on {args.cpus} Ray CPUs (workers at niceness "
          f"{niceness}){'' if with_pool else ' (skipped)'}, batched_all/script with {args.cpus} threads; "
          f"Ray start {results[0]['ray_init_s'] if results else float('nan'):.1f} s; volumes/s; "
          f"load average {load} -> " + " ".join(f"{v:.1f}" for v in os.getloadavg()))
    print(f"{'batch':>5} {'batched':>8} {'b_all':>8} {'actor':>8} {'script':>8} {'pool':>8} {'steady':>8} "
          f"{'start s':>8} {'wall s':>7} {'steady/b_all':>12} {'pool/script':>11} {'max|diff|':>9}"
          + (f" {'gpu_pass':>8}" if cuda else ""))
    for r in results:
        r["pool_steady_over_batched_all"] = r["pool_steady"] / r["batched_all"]
        r["pool_over_script"] = r["pool"] / r["script"]
        print(f"{r['batch']:>5} {r['batched']:>8.2f} {r['batched_all']:>8.2f} {r['actor']:>8.2f} "
              f"{r['script']:>8.2f} {r['pool']:>8.2f} {r['pool_steady']:>8.2f} {r['pool_start_s']:>8.1f} "
              f"{r['pool_wall_s']:>7.1f} {r['pool_steady_over_batched_all']:>12.2f} {r['pool_over_script']:>11.2f} "
              f"{r['pool_max_abs_diff']:>9.1e}" + (f" {r['gpu_pass']!s:>8}" if cuda else ""))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"args": vars(args), "results": results}, fh, indent=2)


if __name__ == "__main__":
    main()
