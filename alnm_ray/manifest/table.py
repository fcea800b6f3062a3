"""Reading a manifest or clinical table (CSV or Parquet) into a DataFrame."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from alnm_ray.constants import COL_IMAGE, COL_MASK, COL_PATIENT
from alnm_ray.exceptions import ManifestError
from alnm_ray.typing import PathLike

#: Columns read as text whatever they hold (ids must not turn into numbers: "007" != 7).
TEXT_COLUMNS = ("cohort", "center", COL_PATIENT, "sequence", "reader", COL_IMAGE, COL_MASK, "split")


def read_table(path: PathLike, *, kind: str = "manifest") -> pd.DataFrame:
    """Read a CSV or Parquet table with identifier columns kept as strings.

    Args:
        path: ``.csv`` or ``.parquet`` file.
        kind: What the table is, for messages ("manifest" or "clinical table").

    Returns:
        The table, with a 0-based index; empty strings become missing values.

    Raises:
        FileNotFoundError: When the file does not exist.
        ManifestError: When the path is not a regular file (a FIFO, device or
            folder, refused without opening it), or the file is not CSV/Parquet
            or cannot be parsed.
    """
    from alnm_ray.manifest.paths import require_regular_file

    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(2, f"{kind} not found", str(p))
    require_regular_file(p, what=kind)  # a FIFO would block the reader forever; a folder is no table
    suffix = p.suffix.lower()
    try:
        if suffix in (".csv", ".tsv", ".txt"):
            df = pd.read_csv(p, sep="\t" if suffix == ".tsv" else ",",
                             dtype={c: "string" for c in TEXT_COLUMNS}, keep_default_na=True)
        elif suffix in (".parquet", ".pq"):
            df = pd.read_parquet(p)
            for col in TEXT_COLUMNS:
                if col in df.columns:
                    df[col] = df[col].astype("string")
        else:
            raise ManifestError([f"{p}: expected a .csv or .parquet {kind}; found a '{suffix}' file. "
                                 "Save the table as CSV or Parquet."], source=kind)
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as err:
        if isinstance(err, ManifestError):
            raise
        raise ManifestError([f"{p}: could not parse the {kind} ({err}). Check it is a well-formed "
                             "CSV (comma-separated, header row) or Parquet file."], source=kind) from err
    df.columns = [str(c).strip() for c in df.columns]
    return df.reset_index(drop=True)


def resolve_path(value: str, base: Path) -> Path:
    """Resolve a manifest path: absolute stays, relative is taken from ``base``."""
    p = Path(str(value)).expanduser()
    return p if p.is_absolute() else (base / p)
