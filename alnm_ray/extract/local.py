"""The local path: a small job's cases on a process pool of this machine, without Ray.

Starting an embedded Ray costs 3-7 s on the 2-core development machine and
each of its actors another second or so to import PyRadiomics; a job of a
few dozen small cases is over before that.  Such a job (no ``--address``, Ray
not running, at most :data:`~alnm_ray.table_job.LOCAL_MAX_CASES` cases to
compute) runs here instead: the same :func:`~alnm_ray.extract.case.process_case`
per case, on a pool of worker processes forked from the driver (as
PyRadiomics's own ``--jobs`` does), one BLAS/OpenMP/ITK thread each, so the
features are the same bit for bit as on Ray.

Cases go to the workers in small chunks (:func:`chunk_size`); the driver
checkpoints the finished cases of each chunk as it comes back, in one file,
as a Ray actor does for each block.  A worker that
dies (out of memory, a crash in native code) breaks the pool: the cases not
returned by then come back as no record, so the job turns them into
``WorkerLost`` error rows (a re-run retries them).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from typing import Any

from alnm_ray.constants import THREAD_ENV_VARS
from alnm_ray.extract.case import RECORD_SCHEMA, process_case, share_feature_names
from alnm_ray.extract.params import ExtractionParams
from alnm_ray.preprocess.config import PreprocessPlan

logger = logging.getLogger(__name__)

#: Most cases per chunk sent to a worker (small chunks keep the workers evenly loaded).
MAX_CHUNK = 8
#: Chunks per worker aimed at (more: better balance, more messages).
CHUNKS_PER_WORKER = 4

# Set once per worker process by _init_worker.
_WORKER: dict[str, Any] = {}


def available_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the platform has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def limit_threads() -> None:
    """One BLAS/OpenMP/ITK thread in this process (a worker shares the machine with the others)."""
    for name in THREAD_ENV_VARS:
        os.environ[name] = "1"
    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover - installed with scikit-learn
        return
    threadpool_limits(limits=1)  # for BLAS libraries already loaded before the fork


def _init_worker(plan: PreprocessPlan, params: ExtractionParams, debug: bool) -> None:
    import radiomics

    limit_threads()
    radiomics.setVerbosity(logging.ERROR)  # its per-case warnings are noise inside a worker
    _WORKER.update(plan=plan, params=params, debug=debug)


def _run_chunk(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [process_case(row, _WORKER["plan"], _WORKER["params"], debug=_WORKER["debug"]).to_record()
            for row in rows]


def chunk_size(n_items: int, workers: int) -> int:
    """Cases per chunk: about :data:`CHUNKS_PER_WORKER` chunks per worker, at most :data:`MAX_CHUNK`.

    Example:
        >>> chunk_size(40, 2), chunk_size(2000, 2), chunk_size(3, 2)
        (5, 8, 1)
    """
    return max(1, min(MAX_CHUNK, n_items // max(1, workers * CHUNKS_PER_WORKER)))


def _context() -> Any:
    # fork: workers start in milliseconds with PyRadiomics already imported (spawn: ~1 s each)
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")


def run_local(items: list[dict[str, Any]], plan: PreprocessPlan, params: ExtractionParams, *,
              workers: int, debug: bool = False, checkpoint: Any = None, quiet: bool = True) -> list[dict[str, Any]]:
    """Extract ``items`` on a local process pool; one record per case that came back.

    Args:
        items: Plain dicts with the case key, ``image``, ``mask``, ``mask_label`` and ``case_hash``.
        plan: Preprocessing plan.
        params: PyRadiomics params.
        workers: Worker processes (at most one per case).
        debug: Re-raise a case's original error (stops the job).
        checkpoint: A :class:`~alnm_ray.extract.checkpoint.CaseCheckpoint`, or ``None``.
        quiet: No progress bar on stderr.

    Returns:
        Records matching :data:`~alnm_ray.extract.case.RECORD_SCHEMA`.
    """
    import pyarrow as pa

    from alnm_ray.progress import progress

    if not items:
        return []
    workers = max(1, min(int(workers), len(items)))
    size = chunk_size(len(items), workers)
    chunks = [items[i:i + size] for i in range(0, len(items), size)]
    records: list[dict[str, Any]] = []
    seen: dict[tuple[str, ...], list[str]] = {}

    with progress(len(items), "extract", quiet=quiet) as bar, ProcessPoolExecutor(
            max_workers=workers, mp_context=_context(), initializer=_init_worker,
            initargs=(plan, params, debug)) as pool:
        pending: set[Future] = {pool.submit(_run_chunk, chunk) for chunk in chunks}
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    got = share_feature_names(future.result(), seen)
                    records.extend(got)
                    ok = [r for r in got if r["status"] == "ok"]
                    if checkpoint is not None and ok:  # survives a killed driver; one file per chunk
                        checkpoint.save_batch(pa.Table.from_pylist(ok, schema=RECORD_SCHEMA))
                    bar.update(len(got), failed=sum(1 for r in records if r["status"] != "ok"))
        except BrokenProcessPool as err:
            if debug:
                raise
            logger.warning("a local extraction worker died (%s); %d case(s) not returned become error rows",
                           err, len(items) - len(records))
        except BaseException:
            for future in pending:
                future.cancel()
            raise
    return records
