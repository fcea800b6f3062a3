"""Table 1 of the reference studies: baseline characteristics by outcome, with the usual tests.

:func:`baseline_table` summarises every clinical variable per group (ALNM− /
ALNM+ by default) and tests the difference, choosing the summary and the test
by the rules these papers state (and that medical statistics textbooks teach):

**Continuous variables** (numeric with more than :data:`MAX_LEVELS_AS_CATEGORY`
distinct values):

* *normal* when every group has at least :data:`MIN_NORMALITY_N` values and the
  Shapiro–Wilk test does not reject normality in any group at
  :data:`NORMALITY_ALPHA` (0.05);
* normal: **mean ± SD**; two groups: Student's t-test when Levene's test
  (median-centred, Brown–Forsythe) does not reject equal variances at
  :data:`EQUAL_VARIANCE_ALPHA` (0.05), else **Welch's t-test**; more groups:
  one-way ANOVA;
* otherwise: **median [Q1, Q3]**; two groups: the two-sided Mann–Whitney U
  test; more groups: Kruskal–Wallis.

**Categorical variables** (text, booleans, numeric with few levels): **n (%)**
per level (column percentages, missing values left out), and for the
contingency table of level × group with expected counts E:

* 2 × 2: Fisher's exact test when n < :data:`FISHER_N` (40) or any E < 1;
  else Pearson's χ² with Yates' continuity correction when any E < 5; else
  Pearson's χ² without correction -- the 2 × 2 rule of common practice
  (Cochran, *Biometrics* 1954;10:417–451, and medical statistics textbooks,
  e.g. Sun Zhenqiu, *Medical Statistics*);
* larger tables: Pearson's χ² unless any E < 1 or more than 20 % of the cells
  have E < 5 (Cochran's rule), then the Fisher–Freeman–Halton exact test
  (:func:`scipy.stats.fisher_exact`, Monte-Carlo p-value with
  :data:`FISHER_RESAMPLES` seeded resamples).

p-values are formatted by :func:`format_p` (``<0.001``, else three decimals).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

#: Columns that identify rows rather than describe patients.
ID_COLUMNS = ("patient_id", "cohort", "center", "label", "split")
#: A numeric column with at most this many distinct values is shown as categories.
MAX_LEVELS_AS_CATEGORY = 6
#: Shapiro–Wilk significance level: below it a group is treated as not normal (the papers' 0.05).
NORMALITY_ALPHA = 0.05
#: Shapiro–Wilk needs at least 3 values; a smaller group is treated as not normal.
MIN_NORMALITY_N = 3
#: Levene (Brown–Forsythe) significance level: below it Welch's t-test replaces Student's.
EQUAL_VARIANCE_ALPHA = 0.05
#: A 2 x 2 table with fewer patients than this is tested with Fisher's exact test (textbook rule).
FISHER_N = 40
#: Expected count below which a 2 x 2 chi-square uses Yates' correction (Cochran 1954).
YATES_EXPECTED = 5.0
#: Expected count below which chi-square is not used at all (Cochran 1954).
MIN_EXPECTED = 1.0
#: Share of cells with E < 5 above which an r x c table is tested exactly (Cochran 1954).
MAX_SMALL_CELLS = 0.2
#: Monte-Carlo resamples (seeded) of the Fisher–Freeman–Halton test on tables larger than 2 x 2.
FISHER_RESAMPLES = 9999
FISHER_SEED = 0
#: p-values below this are printed as "<0.001".
P_FLOOR = 0.001

#: The rules above in one sentence for report notes.
RULES_NOTE = (
    "Continuous variables: mean ± SD when the Shapiro–Wilk test does not reject normality (α = 0.05) "
    "in every group, compared with Student's t-test (Welch's t-test when Levene's test rejects equal "
    "variances, α = 0.05); otherwise median [Q1, Q3] and the Mann–Whitney U test. Categorical variables: "
    "n (%), Pearson's χ²; for 2 × 2 tables Yates' continuity correction when an expected count is "
    "below 5, and Fisher's exact test when n < 40 or an expected count is below 1 (Cochran 1954; "
    "textbook practice); larger tables with an expected count below 1 or more than 20 % of cells below "
    "5: Fisher–Freeman–Halton exact test. p < 0.001 is shown as <0.001.")


def format_p(p: float) -> str:
    """A p-value as the papers print it.

    Example:
        >>> format_p(0.0004), format_p(0.04567), format_p(float("nan"))
        ('<0.001', '0.046', '—')
    """
    if p is None or not np.isfinite(p):
        return "—"
    return f"<{P_FLOOR:g}" if p < P_FLOOR else f"{p:.3f}"


def _group_names(df: pd.DataFrame, by: str, groups: list[Any]) -> dict[Any, str]:
    def name(g: Any) -> str:
        n = int((df[by] == g).sum())
        if by == "label" and g in (0, 1):
            return f"{'ALNM+' if g == 1 else 'ALNM−'} (n={n})"
        return f"{g} (n={n})"
    return {g: name(g) for g in groups}


def is_normal(samples: list[np.ndarray]) -> bool:
    """Whether every group passes Shapiro–Wilk at :data:`NORMALITY_ALPHA` (and has >= 3 values)."""
    for s in samples:
        if s.size < MIN_NORMALITY_N or np.ptp(s) == 0:
            return False
        if stats.shapiro(s).pvalue < NORMALITY_ALPHA:
            return False
    return True


def continuous_test(samples: list[np.ndarray]) -> tuple[str, float, bool]:
    """``(test name, p, normal)`` for the groups' values, by the module's rules."""
    if len(samples) < 2 or any(s.size == 0 for s in samples):
        return "—", float("nan"), False
    normal = is_normal(samples)
    if len(samples) == 2:
        if normal:
            equal = stats.levene(*samples).pvalue >= EQUAL_VARIANCE_ALPHA
            p = stats.ttest_ind(*samples, equal_var=equal).pvalue
            return ("Student's t-test" if equal else "Welch's t-test"), float(p), True
        return "Mann–Whitney U", float(stats.mannwhitneyu(*samples, alternative="two-sided").pvalue), False
    if normal:
        return "one-way ANOVA", float(stats.f_oneway(*samples).pvalue), True
    return "Kruskal–Wallis", float(stats.kruskal(*samples).pvalue), False


def categorical_test(counts: np.ndarray) -> tuple[str, float]:
    """``(test name, p)`` of a levels x groups table of counts, by the module's rules."""
    table = np.asarray(counts, dtype=int)
    table = table[table.sum(axis=1) > 0][:, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return "—", float("nan")
    expected = stats.contingency.expected_freq(table)
    if table.shape == (2, 2):
        if table.sum() < FISHER_N or expected.min() < MIN_EXPECTED:
            return "Fisher's exact", float(stats.fisher_exact(table).pvalue)
        if expected.min() < YATES_EXPECTED:
            return "χ² (Yates)", float(stats.chi2_contingency(table, correction=True).pvalue)
        return "χ²", float(stats.chi2_contingency(table, correction=False).pvalue)
    if expected.min() < MIN_EXPECTED or (expected < YATES_EXPECTED).mean() > MAX_SMALL_CELLS:
        method = stats.PermutationMethod(n_resamples=FISHER_RESAMPLES, random_state=FISHER_SEED)
        return "Fisher–Freeman–Halton", float(stats.fisher_exact(table, method=method).pvalue)
    return "χ²", float(stats.chi2_contingency(table, correction=False).pvalue)


def _is_continuous(values: pd.Series) -> bool:
    return (pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
            and values.nunique() > MAX_LEVELS_AS_CATEGORY)


def baseline_table(cohort: pd.DataFrame, *, by: str = "label") -> pd.DataFrame:
    """Summarise every clinical variable per group, with the test and its p-value.

    Args:
        cohort: One row per patient with ``by`` and clinical columns (``ID_COLUMNS`` are skipped).
        by: Grouping column (``label``: ALNM− / ALNM+).

    Returns:
        Rows "variable" / "level", one column per group, then "test" (the test used), "p"
        (float) and "p_text" (:func:`format_p`); the test and p sit on a variable's first row.

    Example:
        >>> df = pd.DataFrame({"label": [0, 1] * 4, "ki67": ["high", "low"] * 4})
        >>> baseline_table(df)[["variable", "level", "test", "p_text"]].iloc[0].tolist()
        ['ki67', 'high', "Fisher's exact", '0.029']
    """
    df = cohort[cohort[by].notna()].copy()
    groups = sorted(df[by].unique())
    names = _group_names(df, by, groups)
    rows: list[dict[str, object]] = []
    for col in df.columns:
        if col in ID_COLUMNS or col == by:
            continue
        values = df[col]
        if _is_continuous(values):
            samples = [values[df[by] == g].dropna().to_numpy(float) for g in groups]
            test, p, normal = continuous_test(samples)
            row: dict[str, object] = {"variable": col, "level": "mean ± SD" if normal else "median [Q1, Q3]"}
            for g, s in zip(groups, samples):
                if not s.size:
                    row[names[g]] = "—"
                elif normal:
                    row[names[g]] = f"{s.mean():.1f} ± {s.std(ddof=1):.1f}"
                else:
                    q1, med, q3 = np.percentile(s, [25, 50, 75])
                    row[names[g]] = f"{med:.1f} [{q1:.1f}, {q3:.1f}]"
            rows.append({**row, "test": test, "p": p, "p_text": format_p(p)})
            continue
        present = values.notna()
        counts = pd.crosstab(values[present].astype(str), df.loc[present, by]).reindex(columns=groups, fill_value=0)
        test, p = categorical_test(counts.to_numpy())
        totals = counts.sum(axis=0)
        for i, level in enumerate(counts.index):
            row = {"variable": col if i == 0 else "", "level": level}
            for g in groups:
                n, total = int(counts.loc[level, g]), int(totals[g])
                row[names[g]] = f"{n} ({100 * n / total:.1f}%)" if total else "0"
            first = i == 0
            rows.append({**row, "test": test if first else "", "p": p if first else np.nan,
                         "p_text": format_p(p) if first else ""})
    return pd.DataFrame(rows, columns=["variable", "level", *names.values(), "test", "p", "p_text"])


def display_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the papers print it: the formatted p-value under "p", no float column."""
    return table.drop(columns=["p"]).rename(columns={"p_text": "p"})
