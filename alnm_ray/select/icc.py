"""Reproducibility filter: intraclass correlation between readers' delineations.

The paper (Guo 2024): reader B delineated 30 random patients and reader A
repeated them two weeks later; radiomics features with ICC > 0.9 (two-way
model) in both comparisons were kept; deep features skip the filter.

:class:`ICCFilter` computes the ICC from a *long* reader table (the stored
radiomics rows: ``patient_id, sequence, reader, <features>``) using only the
patients present in ``X`` at fit time -- the training patients of the fold.
Columns of ``X`` that do not appear in the reader table (deep features,
clinical variables) bypass the filter.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from alnm_ray import constants as C
from alnm_ray._validation import capped, check_range, look_up_option
from alnm_ray.exceptions import FallbackWarning, SchemaMismatchError
from alnm_ray.select.base import BaseSelector
from alnm_ray.select.columns import is_meta

logger = logging.getLogger(__name__)

#: Shrout & Fleiss (1979) single-rater forms: one-way random, two-way random
#: (absolute agreement), two-way mixed (consistency).
ICC_KINDS: tuple[str, ...] = ("ICC1", "ICC2", "ICC3")


def intraclass_correlation(ratings: np.ndarray, kind: str = "ICC2") -> np.ndarray:
    """Single-rater ICC of every feature at once (Shrout & Fleiss 1979).

    Args:
        ratings: Array of shape (n_targets, k_raters) or (n_targets, k_raters,
            n_features); no NaN.
        kind: "ICC1" = ICC(1,1), "ICC2" = ICC(2,1) (two-way random, absolute
            agreement), "ICC3" = ICC(3,1) (two-way mixed, consistency).

    Returns:
        Array of shape (n_features,) (a 0-d array for 2-D input); NaN where the
        feature has no variance at all.

    Example:
        >>> x = np.array([[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8],
        ...               [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]], float)
        >>> round(float(intraclass_correlation(x, "ICC3")), 2)
        0.71
    """
    look_up_option("icc kind", kind, ICC_KINDS)
    r = np.asarray(ratings, dtype=float)
    squeeze = r.ndim == 2
    if squeeze:
        r = r[:, :, None]
    n, k = r.shape[:2]
    if n < 2 or k < 2:
        raise ValueError(f"ratings: expected at least 2 targets and 2 raters; got shape {r.shape}.")
    grand = r.mean(axis=(0, 1))
    row_means = r.mean(axis=1)
    col_means = r.mean(axis=0)
    ss_rows = k * ((row_means - grand) ** 2).sum(axis=0)
    ss_cols = n * ((col_means - grand) ** 2).sum(axis=0)
    ss_total = ((r - grand) ** 2).sum(axis=(0, 1))
    ms_rows = ss_rows / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "ICC1":
            ms_within = (ss_total - ss_rows) / (n * (k - 1))
            out = (ms_rows - ms_within) / (ms_rows + (k - 1) * ms_within)
        else:
            ms_err = (ss_total - ss_rows - ss_cols) / ((n - 1) * (k - 1))
            if kind == "ICC3":
                out = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err)
            else:
                ms_cols = ss_cols / (k - 1)
                out = (ms_rows - ms_err) / (ms_rows + (k - 1) * ms_err
                                            + k * (ms_cols - ms_err) / n)
    out = np.where(ss_total > 0, out, np.nan)
    return out[0] if squeeze else out


def reader_wide(reader_table: Any, reader: str, *, key: str = C.COL_PATIENT) -> pd.DataFrame:
    """One reader's rows of a long table as a wide frame (``SEQ__feature`` columns).

    Raises:
        SchemaMismatchError: When required columns are missing or a patient has
            two rows for one sequence.
    """
    df = reader_table.to_pandas() if hasattr(reader_table, "to_pandas") else reader_table
    need = [key, C.COL_SEQUENCE, C.COL_READER]
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise SchemaMismatchError(
            f"reader_table: missing column(s) {missing}; expected the long radiomics table "
            f"({', '.join(need)}, <features>). Pass store.read('radiomics') rows of every reader.")
    sub = df[df[C.COL_READER].astype(str) == reader]
    feats = [c for c in sub.columns if not is_meta(c) and pd.api.types.is_numeric_dtype(sub[c])]
    dup = sub.duplicated([key, C.COL_SEQUENCE])
    if dup.any():
        rows = sub.loc[dup, [key, C.COL_SEQUENCE]].astype(str).agg("/".join, axis=1).tolist()
        raise SchemaMismatchError(
            f"reader_table: reader {reader!r} has duplicate rows for {capped(sorted(rows))}; "
            "expected one row per (patient, sequence). Keep one lesion per sequence.")
    wide = sub.pivot(index=key, columns=C.COL_SEQUENCE, values=feats)
    wide.columns = [f"{seq}{C.WIDE_SEP}{feat}" for feat, seq in wide.columns]
    wide.index = wide.index.astype(str)
    return wide


class ReaderRatings:
    """Per-reader wide frames built once from a long reader table (reuse across folds).

    Args:
        reader_table: Long table (DataFrame / pyarrow Table) of every reader's rows.
        key: Patient column.

    Example:
        >>> # readers = ReaderRatings(store.read("radiomics")); readers.readers
    """

    def __init__(self, reader_table: Any, key: str = C.COL_PATIENT) -> None:
        df = reader_table.to_pandas() if hasattr(reader_table, "to_pandas") else reader_table
        if C.COL_READER not in getattr(df, "columns", []):
            raise SchemaMismatchError(
                f"reader_table: expected a long table with a {C.COL_READER!r} column (rows of "
                "readers A, B, A2); got columns "
                f"{capped(sorted(map(str, getattr(df, 'columns', []))))}.")
        self.key = key
        self.readers = sorted(df[C.COL_READER].astype(str).unique())
        self._frames = {r: reader_wide(df, r, key=key) for r in self.readers}

    def wide(self, reader: str) -> pd.DataFrame:
        """One reader's wide frame (index patient ids as str).

        Raises:
            SchemaMismatchError: When the table has no rows of that reader.
        """
        if reader not in self._frames:
            raise SchemaMismatchError(
                f"reader_table: no rows for reader {reader!r}; readers present: {self.readers}. "
                "Extract the second reader's / repeat delineations, or change icc_pairs.")
        return self._frames[reader]


def as_reader_ratings(reader_table: Any, key: str = C.COL_PATIENT) -> ReaderRatings:
    """Wrap a long table in :class:`ReaderRatings` (pass-through if it already is one)."""
    return reader_table if isinstance(reader_table, ReaderRatings) else ReaderRatings(
        reader_table, key)


class ICCFilter(BaseSelector):
    """Keep reader-reproducible radiomics features (ICC above a threshold in every pair).

    The readers' rows are data, not a parameter: pass them to :meth:`fit`
    (``reader_table=``).  The estimator requests ``reader_table`` through
    scikit-learn's metadata routing by default, so a Pipeline forwards it
    (``pipe.fit(X, y, icc__reader_table=t)``, or ``pipe.fit(X, y, reader_table=t)``
    under ``sklearn.config_context(enable_metadata_routing=True)``).

    Args:
        reader_table: Deprecated: the readers' rows given to the constructor
            (still used by ``fit`` when it gets none, with a ``FutureWarning``).
        threshold: ICC cut-off in [0, 1] (0.9 in Guo 2024, 0.75 in Gu 2025).
        kind: "ICC2" (two-way random, ICC(2,1); default), "ICC3" or "ICC1".
        pairs: Readers compared with ``reference``; a feature must pass in every
            pair ("B" = inter-reader, "A2" = intra-reader repeat).
        reference: The reader whose masks feed modelling.
        inclusive: Keep ICC >= threshold instead of ICC > threshold.
        min_patients: Fewest training patients with both readers' rows needed
            to estimate an ICC; below it the pair is skipped (recorded fallback).
        key: Patient column of ``reader_table``; must match ``X``'s index.
        empty_policy, empty_keep: What to do when every assessed feature fails
            (see :mod:`alnm_ray.select.base`); scores are the worst-pair ICC.

    Attributes:
        icc_: DataFrame (assessed features x pairs) of ICC values.
        n_patients_: Dict pair -> number of training patients used.
        bypassed_: Columns not in the reader table (kept without assessment).
        fallback_: Text of any fallback applied, else None.

    Example:
        >>> # ICCFilter(threshold=0.9).fit(X_train, reader_table=store.read("radiomics").to_pandas())
    """

    __metadata_request__fit = {"reader_table": True}
    _step_name = "icc"
    _score_name = "worst-pair ICC"
    _requires_y = False

    def __init__(self, reader_table: Any = None, threshold: float = 0.9, kind: str = "ICC2",
                 pairs: Sequence[str] = (C.READER_B, C.READER_A2),
                 reference: str = C.PRIMARY_READER, inclusive: bool = False,
                 min_patients: int = 5, key: str = C.COL_PATIENT,
                 empty_policy: str = "best", empty_keep: int = 1) -> None:
        self.reader_table = reader_table
        self.threshold = threshold
        self.kind = kind
        self.pairs = pairs
        self.reference = reference
        self.inclusive = inclusive
        self.min_patients = min_patients
        self.key = key
        self.empty_policy = empty_policy
        self.empty_keep = empty_keep

    def fit(self, X: Any, y: Any = None, *, reader_table: Any = None) -> "ICCFilter":
        """Compute each radiomics feature's ICC on the training patients of ``X`` and filter.

        Args:
            X: Training features (n_patients, n_features), index = patient ids.
            y: Ignored (the ICC does not look at the label).
            reader_table: :class:`ReaderRatings` or a long table (DataFrame or
                pyarrow Table) with columns ``patient_id, sequence, reader`` and
                one column per radiomics feature (PyRadiomics names, without the
                sequence prefix): the reference reader's rows and each pair
                reader's rows for the re-delineated patients.  Only the rows of
                ``X``'s patients are used.

        Returns:
            self

        Raises:
            SchemaMismatchError: No reader table, or a malformed one.
        """
        table = reader_table
        if table is None and self.reader_table is not None:
            warnings.warn(
                "icc: reader_table given to ICCFilter(...) is deprecated; expected it as data of "
                "fit (ICCFilter(...).fit(X, reader_table=table), or icc__reader_table=table "
                "through a Pipeline). Move it to fit; the constructor argument will be removed.",
                FutureWarning, stacklevel=2)
            table = self.reader_table
        self._fit_readers = table
        try:
            super().fit(X, y)
        finally:
            del self._fit_readers
        return self

    def _validate_params(self) -> None:
        check_range("icc: threshold", self.threshold, 0.0, 1.0)
        look_up_option("icc: kind", self.kind, ICC_KINDS)
        check_range("icc: min_patients", self.min_patients, 2)
        if getattr(self, "_fit_readers", None) is None:
            raise SchemaMismatchError(
                "icc: reader_table: expected the long radiomics table with the readers' rows "
                "(A, B, A2) as data of fit; got None. Pass fit(X, reader_table=store.read("
                "'radiomics')) (icc__reader_table= through a Pipeline), or disable the ICC step "
                "(SelectionConfig(icc_threshold=None)).")
        if len(tuple(self.pairs)) == 0:
            raise SchemaMismatchError("icc: pairs: expected at least one reader (e.g. ('B', 'A2')).")

    def _select(self, X: pd.DataFrame, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        ratings_by_reader = as_reader_ratings(self._fit_readers, self.key)
        ref = ratings_by_reader.wide(self.reference)
        cols = [str(c) for c in X.columns]
        assessed = [c for c in cols if c in ref.columns]
        self.bypassed_ = [c for c in cols if c not in ref.columns]
        train_ids = pd.Index(X.index.astype(str)).unique()
        table: dict[str, np.ndarray] = {}
        self.n_patients_: dict[str, int] = {}
        notes = []
        for pair in self.pairs:
            other = ratings_by_reader.wide(str(pair))
            common = [c for c in assessed if c in other.columns]
            ids = ref.index.intersection(other.index).intersection(train_ids)
            self.n_patients_[str(pair)] = len(ids)
            if len(ids) < self.min_patients:
                notes.append(
                    f"pair {self.reference}-{pair}: {len(ids)} training patient(s) with both "
                    f"readers' rows (< min_patients={self.min_patients}); pair skipped")
                continue
            ratings = np.stack([ref.loc[ids, common].to_numpy(float),
                                other.loc[ids, common].to_numpy(float)], axis=1)
            vals = np.full(len(assessed), np.nan)
            pos = {c: i for i, c in enumerate(assessed)}
            complete = np.isfinite(ratings).all(axis=(0, 1))
            vals_common = np.full(len(common), np.nan)
            if complete.any():
                vals_common[complete] = intraclass_correlation(ratings[:, :, complete], self.kind)
            for c, v in zip(common, vals_common):
                vals[pos[c]] = v
            table[str(pair)] = vals
        self.icc_ = pd.DataFrame(table, index=pd.Index(assessed, name="feature"))
        if notes:
            self.fallback_ = "icc: " + "; ".join(notes)
            if not table:
                self.fallback_ += "; no pair usable, all radiomics features kept unfiltered"
            warnings.warn(self.fallback_, FallbackWarning, stacklevel=4)
        worst = self.icc_.min(axis=1, skipna=False).to_numpy() if table else np.full(
            len(assessed), np.inf)
        passed = (worst >= self.threshold) if self.inclusive else (worst > self.threshold)
        passed &= ~np.isnan(worst)
        keep_map = dict(zip(assessed, passed))
        score_map = dict(zip(assessed, np.nan_to_num(worst, nan=-np.inf)))
        keep = np.array([keep_map.get(c, True) for c in cols])
        scores = np.array([score_map.get(c, np.inf) for c in cols], dtype=float)
        logger.debug("icc: %d assessed, %d kept, %d bypassed", len(assessed),
                     int(passed.sum()), len(self.bypassed_))
        return keep, scores
