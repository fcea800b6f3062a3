"""The cohort's baseline table by label (like Table 1 of the reference studies)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that identify rows rather than describe patients.
ID_COLUMNS = ("patient_id", "cohort", "center", "label", "split")
#: A numeric column with at most this many distinct values is shown as categories.
MAX_LEVELS_AS_CATEGORY = 6


def baseline_table(cohort: pd.DataFrame, *, by: str = "label") -> pd.DataFrame:
    """Summarise every clinical variable per group, with a p-value.

    Numeric variables: median [IQR] per group and the Mann–Whitney U test.
    Categorical variables (and numeric ones with few levels): n (%) per level and
    the chi-square test of independence (Fisher's exact test for a 2 × 2 table
    with an expected count below 5).

    Args:
        cohort: One row per patient with ``by`` and clinical columns.
        by: Grouping column (``label``: ALNM−/ALNM+).

    Returns:
        Rows "variable" / "level", one column per group plus "p".
    """
    df = cohort[cohort[by].notna()].copy()
    groups = sorted(df[by].unique())
    names = {g: (f"ALNM+ (n={int((df[by] == g).sum())})" if by == "label" and g == 1 else
                 f"ALNM− (n={int((df[by] == g).sum())})" if by == "label" and g == 0 else
                 f"{g} (n={int((df[by] == g).sum())})") for g in groups}
    rows: list[dict[str, object]] = []
    for col in df.columns:
        if col in ID_COLUMNS or col == by:
            continue
        values = df[col]
        numeric = pd.api.types.is_numeric_dtype(values) and values.nunique() > MAX_LEVELS_AS_CATEGORY
        if numeric:
            row: dict[str, object] = {"variable": col, "level": "median [IQR]"}
            samples = [values[df[by] == g].dropna().to_numpy(float) for g in groups]
            for g, s in zip(groups, samples):
                q1, med, q3 = np.percentile(s, [25, 50, 75]) if s.size else (np.nan,) * 3
                row[names[g]] = f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
            ok = len(samples) == 2 and all(s.size for s in samples)
            row["p"] = float(stats.mannwhitneyu(*samples).pvalue) if ok else np.nan
            rows.append(row)
            continue
        counts = pd.crosstab(values.astype(str), df[by])
        p = _categorical_p(counts)
        for i, level in enumerate(counts.index):
            row = {"variable": col if i == 0 else "", "level": level}
            for g in groups:
                n = int(counts.loc[level, g]) if g in counts.columns else 0
                total = int((df[by] == g).sum())
                row[names[g]] = f"{n} ({100 * n / total:.1f}%)" if total else "0"
            row["p"] = p if i == 0 else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=["variable", "level", *names.values(), "p"])


def _categorical_p(counts: pd.DataFrame) -> float:
    if counts.shape[0] < 2 or counts.shape[1] < 2:
        return float("nan")
    chi2, p, _, expected = stats.chi2_contingency(counts.to_numpy())
    if counts.shape == (2, 2) and expected.min() < 5:
        return float(stats.fisher_exact(counts.to_numpy()).pvalue)
    return float(p)
