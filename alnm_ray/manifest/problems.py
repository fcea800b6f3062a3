"""One validation problem and the report that collects them."""

from __future__ import annotations

from dataclasses import dataclass, field

from alnm_ray.exceptions import ManifestError

#: Problems shown in an error message before "… and N more".
MAX_SHOWN = 50


@dataclass(frozen=True, order=True)
class Problem:
    """A problem in one row (or the whole table when ``row`` is ``None``).

    ``row`` counts data rows from 1 (the CSV line is ``row + 1``: the header is line 1).
    """

    row: int | None
    column: str
    expected: str
    found: str
    fix: str

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "table"
        return f"{where}, column '{self.column}': expected {self.expected}; found {self.found}. Fix: {self.fix}"


@dataclass
class ValidationReport:
    """Every problem found in a manifest (and its clinical table), plus counts."""

    source: str
    problems: list[Problem] = field(default_factory=list)
    n_rows: int = 0
    n_patients: int = 0
    n_centers: int = 0
    n_cohorts: int = 0
    sequences: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, row: int | None, column: str, expected: str, found: object, fix: str) -> None:
        self.problems.append(Problem(row, column, expected, _show(found), fix))

    def lines(self) -> list[str]:
        ordered = sorted(self.problems, key=lambda p: (p.row is not None, p.row or 0, p.column))
        shown = [str(p) for p in ordered[:MAX_SHOWN]]
        if len(ordered) > MAX_SHOWN:
            shown.append(f"… and {len(ordered) - MAX_SHOWN} more problem(s) not shown")
        return shown

    def raise_if_failed(self) -> None:
        """Raise :class:`ManifestError` listing every problem when there are any."""
        if self.problems:
            raise ManifestError(self.lines(), source=self.source)

    def summary(self) -> str:
        status = "OK" if self.ok else f"{len(self.problems)} problem(s)"
        return (f"{self.source}: {status} — {self.n_rows} rows, {self.n_patients} patients, "
                f"{self.n_centers} centre(s), {self.n_cohorts} cohort(s), sequences: "
                f"{', '.join(self.sequences) or '-'}")


def _show(value: object) -> str:
    text = str(value)
    return text if len(text) <= 240 else text[:237] + "…"
