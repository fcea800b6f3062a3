"""One problem found in a store: which table, version and file, and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass

from alnm_ray.store.versions import SHORT_ID, VERSION_SEP

#: Kinds of problem, as :func:`alnm_ray.store.health.verify` reports them.
KINDS = ("entry", "escapes", "missing", "size", "checksum", "unreadable", "schema")


@dataclass(frozen=True)
class Problem:
    """A damaged catalog entry or data file.

    Attributes:
        table: The table (the catalog folder the entry lies in).
        version: The version id (the entry's file name without ``.json``).
        file: The damaged file, relative to the store root.
        kind: One of :data:`KINDS`.
        detail: What was expected and what was found.
        entry: The version's catalog entry, relative to the store root.
    """

    table: str
    version: str
    file: str
    kind: str
    detail: str
    entry: str = ""

    @property
    def short(self) -> str:
        """``"table@<first 12 digits>"``."""
        return f"{self.table}{VERSION_SEP}{self.version[:SHORT_ID]}"

    def line(self) -> str:
        """One line for ``features verify``: version, file, what is wrong."""
        return f"{self.short}  {self.file}: {self.detail}"

    def message(self, store: str) -> str:
        """A four-part message: which version and file, expected/found, and the fix."""
        return (f"version {self.short}, file {self.file}: {self.detail}. Run `alnm-ray features "
                f"verify --store {store}` to list every problem and `alnm-ray features repair "
                f"--store {store}` to move the damaged version into _quarantine/ (or restore the "
                "file from a backup).")
