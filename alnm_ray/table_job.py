"""One incremental table job: manifest -> case hashes -> a store version, computing only what is new.

Radiomics extraction (:mod:`alnm_ray.extract.job`) and deep embedding
(:mod:`alnm_ray.embed.job`) are this flow with their own per-case work: a
stage describes itself with a :class:`TableJob` and calls :func:`run_table_job`.

1. :func:`check_manifest`: the required columns, one row per case, integer
   mask labels.
2. :func:`hash_cases`: every case's image and mask are hashed (threads on the
   driver); the case hash adds the case key, the mask label, the sequence's
   preprocessing, the stage's config hash and the library versions.
3. The version id hashes all case hashes (plus the rows of other cohorts kept
   from the latest version), the table config and the manifest's labels and
   splits; when the store already has it, nothing is computed or written.
4. Rows whose case hash is stored in any version of the table are reused
   (:func:`stored_rows`); with checkpoints on, cases that a killed earlier run
   finished are taken from their checkpoints
   (:mod:`alnm_ray.extract.checkpoint`).
5. Only the other cases are computed, inside a Ray session that starts only
   when there is work; a small job on this machine runs on the stage's local
   path instead, without Ray (:func:`runs_locally`).  Failures are caught per case by the stage, so a Ray
   Data block only fails when its worker dies; such a case comes back as no
   record and is reconciled into a ``WorkerLost`` error row.
6. The new version holds reused + new rows + other cohorts' rows
   (:func:`assemble_rows`), with the error rows beside it.
   Always: cases in = feature rows + error rows.

Example:
    A stage supplies its config hash, its per-case compute and its row
    conversion (see :func:`alnm_ray.extract.job.run_extraction`)::

        job = TableJob(stage="extract", table="radiomics", plan=plan, config_name="params",
                       config_hash=params.hash(), versions=library_versions(),
                       compute=compute, feature_rows=feature_rows, version_params=version_params)
        report = run_table_job(manifest, "store/", job, report=ExtractionReport(version=None))
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd

from alnm_ray.constants import (
    CASE_KEY, COL_CASE_HASH, COL_COHORT, COL_EXTRACTED_AT, COL_IMAGE, COL_LABEL, COL_MASK, COL_MASK_LABEL,
    COL_SPLIT, DEFAULT_MASK_LABEL, ERROR_COLUMNS,
)
from alnm_ray.data_context import data_context
from alnm_ray.exceptions import ConfigError, ExtractionError, ManifestError
from alnm_ray.preprocess.config import PreprocessPlan, stable_hash

# alnm_ray.extract is imported inside the functions: its package imports its job module, which
# imports this one, so a top-level import would be circular whenever this module loads first.
if TYPE_CHECKING:
    from alnm_ray.extract.checkpoint import CaseCheckpoint
    from alnm_ray.extract.summary import ExtractionReport

#: Manifest columns copied onto every row (besides the case key); the manifest's value wins.
CARRIED_COLUMNS: tuple[str, ...] = (COL_LABEL, COL_SPLIT, COL_MASK_LABEL)
#: Non-feature columns every table of this flow has, in table order.
BASE_META_COLUMNS: tuple[str, ...] = (*CASE_KEY, *CARRIED_COLUMNS, COL_CASE_HASH, COL_EXTRACTED_AT)
#: ``status`` of a record whose case succeeded (anything else is a failure).
STATUS_OK = "ok"
#: ``error_type`` of a case whose Ray worker ended without returning it.
WORKER_LOST = "WorkerLost"
#: Largest job (cases to compute) run on a stage's local path when no cluster is given: an
#: embedded Ray's start-up (3-7 s on 2 cores) and its actors' (about 1 s each) cost more than
#: Ray gains on one machine for jobs of this size (``bench_extract.py``).
LOCAL_MAX_CASES = 500
#: Environment variable overriding :data:`LOCAL_MAX_CASES` (``0``: always Ray).
ENV_LOCAL_MAX_CASES = "ALNM_RAY_LOCAL_MAX_CASES"
#: Keys of the table config a stage's ``config_name`` may not take.
_RESERVED_CONFIG_KEYS = frozenset({"table", "preprocess", "versions", "row_metadata"})

Record = dict[str, Any]
ReportT = TypeVar("ReportT", bound="ExtractionReport")


@dataclass(frozen=True)
class TableJob:
    """What a stage supplies to :func:`run_table_job`.

    Records are plain dicts, one per case: ``case_hash`` and ``status``
    (:data:`STATUS_OK` or ``"error"``); a failure also has ``stage``,
    ``error_type`` and ``message``; ``seconds`` (optional) is the case's wall
    time.  Anything else is the stage's own.

    Attributes:
        stage: Name of the stage (``extract``, ``embed``): the stage of
            ``WorkerLost`` error rows.
        table: Store table to write.
        plan: Preprocessing plan; each case hash holds its sequence's config hash.
        config_name: Key of the stage's config hash in the table config
            (``params``, ``embed``).
        config_hash: Hash of the stage's config; enters every case hash and
            the version id.
        versions: Library versions whose change changes a row; enter every
            case hash and the version id.
        compute: ``compute(items, checkpoint) -> records``, run inside a Ray
            session.  Items are dicts with the case key, ``image``, ``mask``
            (str paths), ``mask_label`` (str: a label or decoding token) and ``case_hash``; a record per
            item that came back (a missing one becomes a ``WorkerLost`` error).
            ``checkpoint`` is the :class:`~alnm_ray.extract.checkpoint.CaseCheckpoint`
            to save finished cases to, or ``None`` without checkpoints.
        feature_rows: ``feature_rows(records, manifest) -> rows``: one row per
            successful record (computed or resumed), with the case key,
            ``case_hash``, ``extracted_at``, the stage's other meta columns and
            the features.  ``manifest`` is the checked manifest with its
            ``case_hash`` column.
        version_params: ``version_params(rows) -> params`` recorded with the
            new version (called after ``compute``).
        meta_columns: Non-feature columns of a row, in table order.
        feature_columns: Feature columns every version has, in order; empty
            when they depend on the cases (radiomics).
        checkpoints: Resume finished cases from per-case checkpoints, and
            discard them once their version is committed.
        ray_progress_bars: Show Ray Data's own progress bars (unless quiet);
            ``False`` when ``compute`` reports progress itself.
        compute_local: Same contract as ``compute``, run without Ray on this
            machine when :func:`runs_locally` says so; ``None``: always Ray.

    Raises:
        ConfigError: When ``stage`` or ``config_name`` is empty, or
            ``config_name`` is a key the flow uses itself.
    """

    stage: str
    table: str
    plan: PreprocessPlan
    config_name: str
    config_hash: str
    versions: Mapping[str, str]
    compute: Callable[[list[Record], CaseCheckpoint | None], list[Record]]
    feature_rows: Callable[[list[Record], pd.DataFrame], pd.DataFrame]
    version_params: Callable[[pd.DataFrame], dict[str, Any]]
    meta_columns: tuple[str, ...] = BASE_META_COLUMNS
    feature_columns: tuple[str, ...] = field(default=())
    checkpoints: bool = False
    ray_progress_bars: bool = True
    compute_local: Callable[[list[Record], CaseCheckpoint | None], list[Record]] | None = None

    def __post_init__(self) -> None:
        if not self.stage:
            raise ConfigError("TableJob.stage: expected a stage name such as 'extract'; got ''. Name the stage.")
        if not self.config_name or self.config_name in _RESERVED_CONFIG_KEYS:
            raise ConfigError(f"TableJob.config_name: expected a key other than "
                              f"{', '.join(sorted(_RESERVED_CONFIG_KEYS))}; got {self.config_name!r}. "
                              "Name it after the stage's config (e.g. 'params').")

    def table_config(self, manifest: pd.DataFrame) -> dict[str, Any]:
        """The table-level config hashed into the version id, for a manifest with case hashes."""
        # label/split are copied onto the rows: a relabelled manifest is a new version (nothing recomputed)
        meta = [c for c in (COL_LABEL, COL_SPLIT) if c in manifest.columns]
        rows = sorted(map(str, manifest[[COL_CASE_HASH, *meta]].astype(str).itertuples(index=False)))
        return {"table": self.table, self.config_name: self.config_hash, "preprocess": self.plan.hash(),
                "versions": dict(self.versions), "row_metadata": stable_hash(rows)}


def check_manifest(manifest: pd.DataFrame) -> pd.DataFrame:
    """A checked copy of ``manifest``: string case keys, ``mask_label`` as a decoding token (default 1).

    Args:
        manifest: Manifest rows with the ``CASE_KEY`` columns, ``image`` and ``mask``.

    Returns:
        A copy with a fresh index and a ``mask_label`` column.

    Raises:
        ManifestError: A column is missing, a case has several rows, or a
            mask label is not an integer.

    Example:
        >>> row = dict(cohort="c", center="X", patient_id="p1", sequence="T2WI", reader="A",
        ...            image="/i.nii.gz", mask="/m.nii.gz")
        >>> check_manifest(pd.DataFrame([row]))["mask_label"].tolist()
        [1]
    """
    from alnm_ray.extract.case import case_name

    missing = [c for c in (*CASE_KEY, COL_IMAGE, COL_MASK) if c not in manifest.columns]
    if missing:
        raise ManifestError([f"columns: expected {', '.join(missing)}; found only "
                             f"{', '.join(map(str, manifest.columns))}. Validate it with `alnm-ray validate`."])
    df = manifest.reset_index(drop=True).copy()
    for col in CASE_KEY:
        df[col] = df[col].astype(str)
    dup = df[df.duplicated(list(CASE_KEY), keep=False)]
    if not dup.empty:
        first = dup.iloc[0]
        raise ManifestError([f"rows {', '.join(str(i + 1) for i in dup.index[:5])}: expected one row per "
                             f"case {'/'.join(CASE_KEY)}; found {len(dup)} rows for cases such as "
                             f"{case_name(first.to_dict())}. Remove the duplicates."])
    if COL_MASK_LABEL not in df.columns:
        df[COL_MASK_LABEL] = DEFAULT_MASK_LABEL
    from alnm_ray.manifest.masks import mask_tokens

    # integer labels stay ints (case hashes unchanged); colours and thresholds become tokens ("R,G,B~T", ">T")
    df[COL_MASK_LABEL] = mask_tokens(df)
    return df


def hash_cases(manifest: pd.DataFrame, plan: PreprocessPlan, config_hash: str, versions: Mapping[str, str],
               workers: int = 4) -> tuple[list[str], dict[int, dict[str, str]]]:
    """Case hashes (one per row) and read errors by row position, hashing files on threads.

    A case whose image or mask cannot be read still gets a hash (of its key,
    the error, the config and the preprocessing) and a ``read`` error.

    Args:
        manifest: A manifest checked by :func:`check_manifest` (``sequence`` included).
        plan: Preprocessing plan: each case holds its sequence's config hash.
        config_hash: The stage's config hash.
        versions: Library versions.
        workers: Threads reading files.

    Returns:
        ``(hashes, errors)``: ``errors[i]`` has ``stage``, ``error_type`` and
        ``message`` for row ``i``.
    """
    from alnm_ray.extract.case import case_name
    from alnm_ray.extract.hashing import case_hash, sha256_file

    records = manifest.to_dict("records")  # one Series per row (iloc) cost ~0.3 ms per case

    def one(i: int) -> tuple[int, str, dict[str, str] | None]:
        row = records[i]
        key = [row[c] for c in CASE_KEY]
        pre = plan.for_sequence(row["sequence"]).hash()
        try:
            img, msk = sha256_file(row[COL_IMAGE]), sha256_file(row[COL_MASK])
        except OSError as err:
            h = stable_hash({"key": key, "unreadable": str(err), "params": config_hash, "preprocess": pre})
            name = str(getattr(err, "filename", "") or "")
            which = {str(row[COL_IMAGE]): "image", str(row[COL_MASK]): "mask"}.get(name, "file")
            msg = (f"{case_name(row)}: {which} {name}: {err.strerror or err}. Check the {which} path "
                   "in the manifest.")
            return i, h, {"stage": "read", "error_type": type(err).__name__, "message": msg}
        h = case_hash(key=key, image_sha256=img, mask_sha256=msk, mask_label=row[COL_MASK_LABEL],
                      preprocess_hash=pre, params_hash=config_hash, versions=versions)
        return i, h, None

    hashes = [""] * len(manifest)
    errors: dict[int, dict[str, str]] = {}
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        for i, h, err in pool.map(one, range(len(manifest))):
            hashes[i] = h
            if err is not None:
                errors[i] = err
    return hashes, errors


def stored_rows(store: Any, table: str, wanted: set[str]) -> pd.DataFrame:
    """Stored rows of ``table`` whose case hash is in ``wanted``, from any version (newest first).

    Args:
        store: A :class:`~alnm_ray.store.FeatureStore`.
        table: The table.
        wanted: Case hashes to look up.

    Returns:
        At most one row per wanted case hash (its newest), or an empty frame
        with a ``case_hash`` column.
    """
    import pyarrow.compute as pc

    found: list[pd.DataFrame] = []
    remaining = set(wanted)
    for info in reversed(store.versions(table)):
        if not remaining:
            break
        if COL_CASE_HASH not in info.column_names:
            continue
        part = store.dataset(info).to_table(filter=pc.field(COL_CASE_HASH).isin(sorted(remaining)))
        if part.num_rows:
            pdf = part.to_pandas().drop_duplicates(COL_CASE_HASH)
            remaining -= set(pdf[COL_CASE_HASH])
            found.append(pdf)
    if not found:
        return pd.DataFrame(columns=[COL_CASE_HASH])
    return pd.concat(found, ignore_index=True, sort=False)


def assemble_rows(parts: list[pd.DataFrame], manifest: pd.DataFrame, *,
                  meta_columns: tuple[str, ...] = BASE_META_COLUMNS,
                  feature_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """Union row sets into one table: manifest metadata, column order and dtypes fixed.

    Rows of a case in the manifest take its current ``label``, ``split`` and
    ``mask_label`` (even an empty one); other rows keep theirs.  Features
    become float64 (NaN where a row lacks one), ``label`` and ``mask_label``
    nullable integers, every other meta column a string.

    Args:
        parts: Row sets (empty ones are skipped).
        manifest: The checked manifest with its ``case_hash`` column.
        meta_columns: Non-feature columns, in table order.
        feature_columns: Fixed feature columns, in order; empty to keep every
            other column as a feature, in order of appearance.

    Returns:
        The rows sorted by the case key.

    Example:
        >>> key = dict(cohort="c", center="X", patient_id="p1", sequence="T2WI", reader="A")
        >>> rows = pd.DataFrame([{**key, "case_hash": "h1", "extracted_at": "t", "f": 1}])
        >>> manifest = pd.DataFrame([{**key, "case_hash": "h1", "label": 1, "mask_label": 1}])
        >>> out = assemble_rows([rows], manifest)
        >>> list(out.columns)[5:]
        ['label', 'mask_label', 'case_hash', 'extracted_at', 'f']
        >>> out["label"].tolist(), out["f"].dtype.name
        ([1], 'float64')
    """
    parts = [p for p in parts if not p.empty]
    if parts:
        out = pd.concat(parts, ignore_index=True, sort=False)
    else:
        out = pd.DataFrame(columns=[*(c for c in meta_columns if c not in CARRIED_COLUMNS), *feature_columns])
    by_hash = manifest.set_index(COL_CASE_HASH)
    in_manifest = out[COL_CASE_HASH].isin(by_hash.index)
    for col in CARRIED_COLUMNS:
        if col in manifest.columns:  # the manifest's current value wins, even when it is empty
            mapped = out[COL_CASE_HASH].map(by_hash[col])
            out[col] = mapped.where(in_manifest, out[col]) if col in out.columns else mapped
    meta = [c for c in meta_columns if c in out.columns]
    features = list(feature_columns) or [c for c in out.columns if c not in meta_columns]
    out = out[meta + features]
    for col in features:
        if out[col].dtype != "float64":  # float64 columns are already what to_numeric would give
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    for col in meta:
        if col in (COL_LABEL, COL_MASK_LABEL):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("Int64")
        else:
            out[col] = out[col].astype("string")
    return out.sort_values(list(CASE_KEY), kind="stable").reset_index(drop=True)


def lost_cases(items: list[Record], records: list[Record], *, stage: str) -> list[Record]:
    """Error records for the items no record came back for (their Ray worker died).

    Example:
        >>> item = dict(cohort="c", center="X", patient_id="p1", sequence="T2WI", reader="A", case_hash="h")
        >>> [r["error_type"] for r in lost_cases([item], [], stage="extract")]
        ['WorkerLost']
    """
    from alnm_ray.extract.case import case_name

    returned = {r[COL_CASE_HASH] for r in records}
    return [{**{c: item[c] for c in CASE_KEY}, COL_CASE_HASH: item[COL_CASE_HASH], "status": "error",
             "stage": stage, "error_type": WORKER_LOST,
             "message": f"{case_name(item)}: the Ray worker running this case ended without a result "
                        "(worker crash or out of memory). Re-run to retry it."}
            for item in items if item[COL_CASE_HASH] not in returned]


def run_table_job(manifest: pd.DataFrame, store: Any, job: TableJob, *, report: ReportT,
                  lineage: dict[str, Any] | None = None, quiet: bool = False, debug: bool = False,
                  ray_config: Any = None, hash_workers: int = 4) -> ReportT:
    """Compute the new cases of ``manifest`` and write a new version of ``job.table``.

    Args:
        manifest: Manifest rows (``CASE_KEY`` columns, absolute ``image``/``mask``
            paths, optional ``mask_label``, ``label``, ``split``).
        store: A :class:`~alnm_ray.store.FeatureStore` or its URI.
        job: The stage's part (config hash, compute, row conversion).
        report: The report to fill in (an :class:`~alnm_ray.extract.summary.ExtractionReport`
            or a subclass); ``job.compute`` may fill the stage's own fields.
        lineage: Recorded with the version (e.g. manifest path and checksum).
        quiet: No Ray Data progress output.
        debug: Let a failed Ray Data block fail the job (the stage re-raises
            case errors itself).
        ray_config: How to reach Ray (:class:`~alnm_ray.runtime.RayConfig`) when
            it is not running yet; started only when some case needs computing,
            and shut down afterwards.
        hash_workers: Threads hashing files on the driver.

    Returns:
        ``report``, filled in: its ``version`` is the new (or already stored) version.

    Raises:
        ManifestError: Missing columns or duplicate cases.
        ExtractionError: When cases in and rows out do not add up (a bug).
    """
    from alnm_ray.extract.checkpoint import CaseCheckpoint
    from alnm_ray.extract.hashing import version_id
    from alnm_ray.store import FeatureStore

    t0 = time.perf_counter()
    store = store if isinstance(store, FeatureStore) else FeatureStore(store)
    df = check_manifest(manifest)
    hashes, read_errors = hash_cases(df, job.plan, job.config_hash, job.versions, workers=hash_workers)
    df[COL_CASE_HASH] = hashes
    latest = store.latest(job.table)
    carried = _other_cohorts(store, job.table, latest, df)
    vid = version_id([*hashes, *carried[COL_CASE_HASH]], table_config=job.table_config(df))
    report.cases, report.carried = len(df), len(carried)
    checkpoint = CaseCheckpoint.for_store(store, job.table) if job.checkpoints else None
    existing = next((v for v in store.versions(job.table) if v.version == vid), None)
    if existing is not None:
        errs = store.read_errors(job.table, version=vid).to_pandas()
        report.version, report.existed = existing, True
        report.errors = errs[[c for c in ERROR_COLUMNS if c in errs.columns]]
        report.failed, report.cached = len(errs), len(df) - len(errs)
        if checkpoint is not None:
            checkpoint.discard(df[COL_CASE_HASH])
        report.seconds = time.perf_counter() - t0
        return report

    todo = df[~df.index.isin(read_errors)]
    stored = (stored_rows(store, job.table, set(todo[COL_CASE_HASH])) if latest is not None
              else pd.DataFrame(columns=[COL_CASE_HASH]))
    todo = todo[~todo[COL_CASE_HASH].isin(set(stored[COL_CASE_HASH]))]
    items = [{**{c: row[c] for c in CASE_KEY}, COL_IMAGE: str(row[COL_IMAGE]), COL_MASK: str(row[COL_MASK]),
              COL_MASK_LABEL: str(row[COL_MASK_LABEL]), COL_CASE_HASH: row[COL_CASE_HASH]}
             for row in todo.to_dict("records")]
    # cases an earlier, killed run finished but never committed
    resumed = checkpoint.load(item[COL_CASE_HASH] for item in items) if checkpoint is not None else []
    done_before = {r[COL_CASE_HASH] for r in resumed}
    items = [item for item in items if item[COL_CASE_HASH] not in done_before]
    records = _compute(job, items, checkpoint, report, quiet=quiet, debug=debug, ray_config=ray_config)
    records += lost_cases(items, records, stage=job.stage)
    report.case_seconds = [float(r["seconds"]) for r in records if r.get("seconds") is not None]
    records += resumed
    errors = _error_rows(df, read_errors, records)
    position = {h: i for i, h in enumerate(df[COL_CASE_HASH])}
    ok = sorted((r for r in records if r["status"] == STATUS_OK), key=lambda r: position[r[COL_CASE_HASH]])
    out = assemble_rows([stored, job.feature_rows(ok, df), carried], df, meta_columns=job.meta_columns,
                        feature_columns=job.feature_columns)
    manifest_rows_out = int(out[COL_CASE_HASH].isin(position).sum())
    if manifest_rows_out + len(errors) != len(df):
        raise ExtractionError(f"internal check failed: {len(df)} cases in, {manifest_rows_out} feature rows + "
                              f"{len(errors)} error rows out. Re-run with --debug and report this.")
    report.computed, report.cached, report.failed = len(items), len(stored), len(errors)
    report.resumed, report.errors = len(resumed), errors
    # only the rows computed now are written (appended, or merged by key); the rest are in the store
    fresh = {r[COL_CASE_HASH] for r in ok}
    report.version = store.write_version(
        job.table, out, version_id=vid, params=job.version_params(out),
        lineage=dict(lineage or {}, carried_cohorts=sorted(set(carried[COL_COHORT]))),
        parent=latest.version if latest is not None else None, errors=errors, counts=report.counts(),
        changed=out[COL_CASE_HASH].isin(fresh).to_numpy() if latest is not None else None)
    if checkpoint is not None:
        checkpoint.discard(df[COL_CASE_HASH])  # committed: the store holds these rows now
    report.seconds = time.perf_counter() - t0
    return report


def _other_cohorts(store: Any, table: str, latest: Any, manifest: pd.DataFrame) -> pd.DataFrame:
    """Rows of the latest version whose cohort the manifest does not have (kept as they are)."""
    if latest is not None:
        prev = store.read(table, version=latest.version).to_pandas()
        if COL_COHORT in prev.columns:
            return prev[~prev[COL_COHORT].astype(str).isin(set(manifest[COL_COHORT]))]
    return pd.DataFrame(columns=[COL_CASE_HASH, COL_COHORT])


def local_max_cases() -> int:
    """:data:`LOCAL_MAX_CASES`, or the value of :data:`ENV_LOCAL_MAX_CASES` when set.

    Raises:
        ConfigError: When the variable is not a non-negative integer.
    """
    from alnm_ray.runtime import env_int

    return env_int(ENV_LOCAL_MAX_CASES, LOCAL_MAX_CASES, meaning="0: always Ray")


def runs_locally(job: TableJob, n_items: int, ray_config: Any = None) -> bool:
    """Whether ``n_items`` cases run on ``job.compute_local`` instead of Ray.

    True when the stage has a local path, no cluster address is given
    (``ray_config.address`` or ``RAY_ADDRESS``), Ray is not already running
    in this process, and the job has at most :func:`local_max_cases` cases.

    Example:
        >>> from alnm_ray.runtime import RayConfig
        >>> job = TableJob(stage="s", table="t", plan=PreprocessPlan(), config_name="c", config_hash="h",
        ...                versions={}, compute=None, feature_rows=None, version_params=None,
        ...                compute_local=lambda items, checkpoint: [])
        >>> runs_locally(job, 40, RayConfig(address="ray://head:10001"))
        False
    """
    from alnm_ray.runtime import RayConfig

    if job.compute_local is None or n_items > local_max_cases():
        return False
    if (ray_config or RayConfig()).resolved_address() is not None:
        return False
    return not ("ray" in sys.modules and sys.modules["ray"].is_initialized())


def _compute(job: TableJob, items: list[Record], checkpoint: CaseCheckpoint | None, report: ExtractionReport,
             *, quiet: bool, debug: bool, ray_config: Any) -> list[Record]:
    """``job.compute(items)`` in a Ray session, with Ray Data tolerating lost blocks; timings on ``report``."""
    if not items:  # Ray starts only when there is work: a re-run with nothing new never pays its start-up
        return []
    if runs_locally(job, len(items), ray_config):
        assert job.compute_local is not None
        t_start = time.perf_counter()
        records = list(job.compute_local(items, checkpoint))
        report.ray_seconds, report.path = time.perf_counter() - t_start, "local"
        return records
    report.path = "ray"
    from alnm_ray.runtime import RayConfig, ray_session

    # Each case's failure is caught by the stage, so a block only errors when its worker dies; those
    # cases come back as no record and become error rows instead of failing the whole run.
    tolerate = {} if debug else {"max_errored_blocks": len(items)}
    t_start = time.perf_counter()
    with ray_session(ray_config or RayConfig(quiet=quiet)):
        report.ray_start_seconds = time.perf_counter() - t_start
        with data_context(enable_progress_bars=job.ray_progress_bars and not quiet,
                          print_on_execution_start=not quiet, **tolerate):
            records = list(job.compute(items, checkpoint))
        report.ray_seconds = time.perf_counter() - t_start - report.ray_start_seconds
    return records


def _error_rows(manifest: pd.DataFrame, read_errors: dict[int, dict[str, str]],
                records: list[Record]) -> pd.DataFrame:
    """Error rows (:data:`~alnm_ray.constants.ERROR_COLUMNS`): read errors, then failed records, in manifest order."""
    position = {h: i for i, h in enumerate(manifest[COL_CASE_HASH])}
    failed = sorted((r for r in records if r["status"] != STATUS_OK), key=lambda r: position[r[COL_CASE_HASH]])
    causes = [(i, e) for i, e in sorted(read_errors.items())]
    causes += [(position[r[COL_CASE_HASH]], r) for r in failed]
    rows = [{"stage": e["stage"], **{c: manifest.at[i, c] for c in CASE_KEY}, "error_type": e["error_type"],
             "message": e["message"]} for i, e in causes]
    return pd.DataFrame(rows, columns=list(ERROR_COLUMNS)).astype("string")
