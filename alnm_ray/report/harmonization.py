"""Report section: per-centre feature distributions before and after ComBat (training rows).

Both reports (``alnm-ray report`` of a tune run, and the report of ``alnm-ray run``)
read the ``harmonization`` entry that :func:`alnm_ray.tune.trial.selection_record`
writes into ``RUN/selection/<set>.json`` when the selection harmonised with
``harmonize: combat``: the training rows' values of a few features (the selected
ones ComBat adjusted, then those with the largest spread of centre means) before
and after the step, and each row's centre.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from alnm_ray.report import _html as H

#: Title of the section in both reports.
TITLE = "Centre harmonisation (ComBat)"


def has_harmonization(selection: Mapping[str, Any]) -> bool:
    """Whether any feature set's selection record holds a ComBat record."""
    return any((rec or {}).get("harmonization") for rec in selection.values())


def harmonization_section(selection: Mapping[str, Any]) -> str:
    """HTML: per feature set, a table of training rows per centre and the before/after box plots.

    Args:
        selection: Feature set -> its ``selection/<set>.json`` record.

    Returns:
        The section body ("" when no record has a ComBat entry).

    Example:
        >>> harmonization_section({"radiomics": {"steps": []}})
        ''
    """
    from alnm_ray.plots import plot_center_harmonization

    parts = []
    for fs, rec in selection.items():
        harm = (rec or {}).get("harmonization")
        if not harm or not harm.get("features"):
            continue
        index = pd.Index(harm["patients"], name="patient_id")
        before = pd.DataFrame(harm["before"], index=index)[harm["features"]]
        after = pd.DataFrame(harm["after"], index=index)[harm["features"]]
        counts = pd.DataFrame({"centre": list(harm["n_per_center"]),
                               "training rows": list(harm["n_per_center"].values())})
        fig = plot_center_harmonization(before, after, harm["centers"], features=harm["features"],
                                        title=f"Per-centre feature distributions — {fs}")
        note = f"<p class='note'>{H.esc(harm['fallback'])}</p>" if harm.get("fallback") else ""
        parts.append(f"<h3>{H.esc(fs)}</h3>" + H.table(counts, floatfmt="{:.0f}") + note
                     + "<div class='figs'>" + H.figure(
                         fig, f"{fs}: each centre's training rows before (left) and after (right) ComBat, "
                              "which learned its centre effects from these rows only.") + "</div>")
    if not parts:
        return ""
    return ("<p class='note'>ComBat (<code>harmonize: combat</code>) is refitted inside every training "
            "fold; shown here is its fit on the training set of the selection record (the hold-out "
            "training set, or the protocol's training split), for the selected features it adjusted "
            "and those whose centre means differed most.</p>" + "".join(parts))
