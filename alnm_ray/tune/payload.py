"""What every trial of a sweep reads: one frozen :class:`TrialPayload`.

The driver builds it once (:func:`build_payload`) and Ray puts it into the
object store once (``tune.with_parameters``).  Ray Tune itself only carries
``{"unit": <unit id>}`` in each trial's ``config`` (its ``param_space`` must be
a dict); :meth:`TrialPayload.unit_for` turns that back into the
:class:`~alnm_ray.tune.units.Unit`, the one place a trial reads Tune's dict.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from alnm_ray._validation import capped
from alnm_ray.exceptions import ConfigError
from alnm_ray.select.config import SelectionConfig
from alnm_ray.tune.config import TuneRunConfig
from alnm_ray.tune.inputs import TuneInputs, cv_patients
from alnm_ray.tune.units import Unit

#: The key of a trial's Ray Tune ``config`` that names its unit.
UNIT_KEY = "unit"


@dataclass(frozen=True)
class TrialPayload:
    """The sweep's shared data, as every trial reads it.

    Attributes:
        config: The sweep's configuration.
        selection: Its selection configuration (built once in the driver).
        run_id: The run id (written into each unit's marker).
        trials_dir: Absolute ``RUN/trials`` folder the units write to.
        units: Unit id -> unit, for every unit of the sweep.
        sets: Feature set name -> wide frame (patients x features, index ``patient_id``).
        y: 0/1 label of every modelled patient (index ``patient_id``).
        cv_ids: Patients of the repeated CV (the hold-out training patients, or all).
        centers: Centre per patient, or None when no table has one.
        train_ids, test_ids: The hold-out split, or None when the hold-out is off.
        reader_ratings: Readers' rows for the ICC filter, or None.
        candidates: Random-search candidates ``[{classifier: params}, ...]``,
            or None for the grid of defaults.
    """

    config: TuneRunConfig
    selection: SelectionConfig
    run_id: str
    trials_dir: Path
    units: Mapping[str, Unit]
    sets: Mapping[str, pd.DataFrame]
    y: pd.Series
    cv_ids: tuple[str, ...]
    centers: pd.Series | None = None
    train_ids: tuple[str, ...] | None = None
    test_ids: tuple[str, ...] | None = None
    reader_ratings: Any = None
    candidates: tuple[dict[str, dict[str, Any]], ...] | None = None

    def unit_for(self, trial_config: Mapping[str, Any]) -> Unit:
        """The unit that a Ray Tune trial's ``config`` names.

        Args:
            trial_config: The trial's ``config`` (``{"unit": <unit id>}``).

        Returns:
            The :class:`~alnm_ray.tune.units.Unit`.

        Raises:
            ConfigError: The config names no unit of this sweep.
        """
        uid = trial_config.get(UNIT_KEY)
        if not isinstance(uid, str) or uid not in self.units:
            raise ConfigError(
                f"trial config: expected {{{UNIT_KEY!r}: <unit id>}} naming a unit of run "
                f"{self.run_id[:12]} (e.g. {capped(sorted(self.units), 3)}); got "
                f"{dict(trial_config)!r}. Trials take their config from the sweep's "
                "param_space; re-run the sweep rather than a single trial.")
        return self.units[uid]

    def rows(self, unit: Unit, ids: Sequence[str]) -> tuple[dict[str, pd.DataFrame], pd.Series]:
        """The unit's component sets and the labels, restricted to ``ids`` in that order."""
        ids = list(ids)
        return {name: self.sets[name].loc[ids] for name in unit.components}, self.y.loc[ids]


def build_payload(inputs: TuneInputs, cfg: TuneRunConfig, units: Sequence[Unit], run_id: str,
                  trials_dir: Path, candidates: Sequence[Mapping[str, Mapping[str, Any]]] | None
                  ) -> TrialPayload:
    """The data every trial reads (put into the object store once).

    Args:
        inputs: The sweep's assembled inputs.
        cfg: Its configuration.
        units: Every unit of the sweep.
        run_id: The run id.
        trials_dir: The ``RUN/trials`` folder (made absolute: trials run elsewhere).
        candidates: Random-search candidates, or None.

    Returns:
        A :class:`TrialPayload`.
    """
    def ids(values: Sequence[str] | None) -> tuple[str, ...] | None:
        return None if values is None else tuple(values)

    return TrialPayload(
        config=cfg, selection=cfg.selection_config(), run_id=run_id,
        trials_dir=Path(trials_dir).resolve(), units={u.uid: u for u in units}, sets=inputs.sets,
        y=inputs.y, cv_ids=tuple(cv_patients(inputs, cfg)), centers=inputs.centers,
        train_ids=ids(inputs.train_ids), test_ids=ids(inputs.test_ids),
        reader_ratings=inputs.reader_ratings,
        candidates=None if candidates is None else tuple(
            {clf: dict(params) for clf, params in cand.items()} for cand in candidates))
