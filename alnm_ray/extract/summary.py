"""What an extraction run did: counters, timing, failures, and their one-line summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import pandas as pd

from alnm_ray.constants import ERROR_COLUMNS

#: At most this many failures are listed one by one in the failure summary.
MAX_LISTED_FAILURES = 10


@dataclass
class ExtractionReport:
    """Outcome of :func:`alnm_ray.extract.job.run_extraction`.

    Attributes:
        version: The store version holding the result (``VersionInfo``).
        cases: Manifest rows (cases) given.
        computed: Cases sent to the Ray workers this run (ok or failed).
        cached: Cases whose stored row was reused (same content hash).
        resumed: Cases a killed earlier run had finished, taken from their checkpoints
            (:mod:`alnm_ray.extract.checkpoint`) instead of being computed again.
        failed: Cases that ended in the ``errors`` table.
        carried: Rows of other cohorts kept from the previous version.
        seconds: Wall time of the whole run (s).
        ray_start_seconds: Time to start or connect to Ray (s); 0 when it was already running
            or nothing was computed.
        ray_seconds: Wall time of the compute stage (s): Ray Data (start-up excluded) or the local
            pool; 0 when nothing was computed.
        case_seconds: Per-case wall times of the computed cases (s).
        existed: True when the version already existed (nothing computed or written).
        path: Where the cases were computed: ``"ray"``, ``"local"`` (a process pool of this
            machine, :func:`~alnm_ray.table_job.runs_locally`) or ``""`` (nothing computed).
        errors: The error rows (columns :data:`~alnm_ray.constants.ERROR_COLUMNS`).
        stage: The stage that ran (class attribute; first word of :meth:`summary_line`).
    """

    stage: ClassVar[str] = "extract"
    version: Any
    cases: int = 0
    computed: int = 0
    cached: int = 0
    resumed: int = 0
    failed: int = 0
    carried: int = 0
    seconds: float = 0.0
    ray_start_seconds: float = 0.0
    ray_seconds: float = 0.0
    case_seconds: list[float] = field(default_factory=list)
    existed: bool = False
    path: str = ""
    errors: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(ERROR_COLUMNS)))

    @property
    def done(self) -> int:
        """Cases whose features were computed this run (computed minus failed in Ray)."""
        return self.cases - self.cached - self.failed

    def counts(self) -> dict[str, int]:
        """The counters stored with the version (``resumed`` only when some case was)."""
        counts = {"cases": self.cases, "computed": self.computed, "cached": self.cached,
                  "failed": self.failed, "carried": self.carried}
        return {**counts, "resumed": self.resumed} if self.resumed else counts

    def to_json(self) -> dict[str, Any]:
        """Counters, timings (s) and the version, JSON-able."""
        return {**self.counts(), "resumed": self.resumed, "done": self.done, "existed": self.existed,
                "table": getattr(self.version, "table", None), "version": getattr(self.version, "version", None),
                "seconds": self.seconds, "ray_start_seconds": self.ray_start_seconds,
                "ray_seconds": self.ray_seconds, "path": self.path, "case_seconds": list(self.case_seconds),
                "errors": self.errors.astype(object).where(self.errors.notna(), None).to_dict("records")}

    def summary_line(self) -> str:
        """``extract: 40 cases: 3 done, 36 cached, 1 failed in 12.3 s -> radiomics@ab12cd34ef56``."""
        short = getattr(self.version, "short", None) or f"{getattr(self.version, 'table', '?')}@" \
                                                         f"{str(getattr(self.version, 'version', '?'))[:12]}"
        extra = " (version already in the store; nothing computed)" if self.existed else ""
        carried = f", {self.carried} rows of other cohorts kept" if self.carried else ""
        resumed = f" ({self.resumed} resumed from checkpoints)" if self.resumed else ""
        return (f"{self.stage}: {self.cases} cases: {self.done} done{resumed}, {self.cached} cached, {self.failed} "
                f"failed{carried} in {self.seconds:.1f} s -> {short}{extra}")

    def failure_summary(self) -> str:
        """Failures grouped by stage and error type, then the first few cases (empty when none)."""
        if self.errors.empty:
            return ""
        lines = [f"{len(self.errors)} case(s) failed:"]
        groups = self.errors.groupby(["stage", "error_type"]).size().sort_values(ascending=False)
        for (stage_name, etype), n in groups.items():
            lines.append(f"  {n:>4} x {stage_name}: {etype}")
        for _, row in self.errors.head(MAX_LISTED_FAILURES).iterrows():
            msg = str(row["message"]).replace("\n", " ")
            lines.append(f"  - [{row['stage']}] {msg[:240]}")
        if len(self.errors) > MAX_LISTED_FAILURES:
            lines.append(f"  … {len(self.errors) - MAX_LISTED_FAILURES} more: "
                         "alnm-ray sql \"SELECT * FROM errors\" lists them all")
        return "\n".join(lines)
