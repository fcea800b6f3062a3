"""Reading a ``tune`` run folder's configuration for ``alnm-ray train --run``.

A run folder holds ``run.json`` (written by ``alnm-ray tune``) or, for runs
set up by hand, ``config.yaml`` with the same fields.  Fields read (all
optional; command-line options override them):

=================  ============================================================
``store``          store path/URI the run read (used when ``--store`` is absent)
``preset``         selection preset name (``guo2024`` …)
``selection``      selection config dict (``{"preset": …, **changes}``) or name;
                   wins over ``preset``
``seed``           base seed of selection and classifiers
``tables``         ``{table: version id}`` the run used (also accepted:
                   ``table_versions``, ``store_versions``)
``feature_sets``   sets the run swept; ``--feature-set`` must be one of them
``classifiers``    list of names, or ``{name: params}``; ``--classifier`` must be one
``best_params``    ``{"<feature set>/<classifier>": params}`` or ``{classifier: params}``
                   (e.g. from a hyper-parameter search)
``reader``         reader of the modelling masks
``split``          split value of the training patients
=================  ============================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from alnm_ray._validation import look_up_option
from alnm_ray.exceptions import ConfigError
from alnm_ray.typing import PathLike

#: Files looked for in a run folder, in order.
RUN_FILES: tuple[str, ...] = ("run.json", "config.yaml")
_TABLE_KEYS: tuple[str, ...] = ("tables", "table_versions", "store_versions")


def load_run(run_dir: PathLike) -> dict[str, Any]:
    """The run's configuration dict (``run.json`` or ``config.yaml``).

    Raises:
        ConfigError: When the folder has neither file or the file does not parse to a mapping.
    """
    base = Path(run_dir)
    for name in RUN_FILES:
        path = base / name
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            try:
                data = json.loads(text) if name.endswith(".json") else yaml.safe_load(text)
            except (json.JSONDecodeError, yaml.YAMLError) as err:
                raise ConfigError(f"{path}: expected valid {'JSON' if name.endswith('.json') else 'YAML'}; "
                                  f"{err}. Fix or re-create the run folder with `alnm-ray tune`.") from err
            if not isinstance(data, dict):
                raise ConfigError(f"{path}: expected a mapping of run settings; got {type(data).__name__}.")
            return data
    raise ConfigError(f"--run {base}: expected a run folder holding {' or '.join(RUN_FILES)}; found neither. "
                      "Point --run at a folder written by `alnm-ray tune --out`, or pass --preset/--seed/"
                      "--table directly instead of --run.")


def train_settings(run: dict[str, Any], feature_set: str, classifier: str) -> dict[str, Any]:
    """:class:`~alnm_ray.score.train.TrainConfig` keyword arguments taken from a run.

    Raises:
        ConfigError: When the run did not sweep ``feature_set`` or ``classifier``.
    """
    out: dict[str, Any] = {}
    sets = run.get("feature_sets")
    if sets:
        look_up_option("--feature-set (not in the run's feature_sets)", feature_set, [str(s) for s in sets])
    clfs = run.get("classifiers")
    params: dict[str, Any] = {}
    if clfs:
        names = list(clfs) if isinstance(clfs, (list, tuple, dict)) else [str(clfs)]
        look_up_option("--classifier (not in the run's classifiers)", classifier, [str(c) for c in names])
        if isinstance(clfs, dict) and isinstance(clfs.get(classifier), dict):
            params.update(clfs[classifier])
    fixed = run.get("classifier_params") or {}  # the sweep's fixed parameters (e.g. from a protocol)
    if isinstance(fixed.get(classifier), dict):
        params.update(fixed[classifier])
    best = run.get("best_params") or {}
    for key in (classifier, f"{feature_set}/{classifier}"):
        if isinstance(best.get(key), dict):
            params.update(best[key])
    if params:
        out["classifier_params"] = params
    if run.get("selection") is not None:
        out["selection"] = run["selection"]
    elif run.get("preset") is not None:
        out["selection"] = str(run["preset"])
    if run.get("seed") is not None:
        out["seed"] = int(run["seed"])
    for key in _TABLE_KEYS:
        if isinstance(run.get(key), dict):
            out["tables"] = {str(k): str(v) for k, v in run[key].items()}
            break
    if isinstance(run.get("protocol"), dict):
        out["protocol"] = dict(run["protocol"])
    for key in ("reader", "split"):
        if key in run:
            out[key] = run[key]
    return out
