"""Optional MLflow experiment tracking (``pip install alnm-ray[mlflow]``; off by default).

Turned on by ``--mlflow-uri URI`` on ``tune`` and ``train`` (or
``$MLFLOW_TRACKING_URI``); without either nothing is imported or logged.

* A tune run logs its protocol as parameters (preset, repeats, folds, seeds,
  search, table versions, library versions), the summary's metrics per
  feature set x classifier (``<set>/<classifier>/auc_mean`` …), and the
  summary, hold-out metrics and checklists as artifacts.  ``run.json`` is not
  uploaded: it lists the hold-out patients' ids.  The MLflow run id is written
  to ``RUN/mlflow_run.json``, so ``alnm-ray report RUN`` adds the report to the
  same MLflow run.
* ``train`` logs the bundle as an MLflow pyfunc model (``alnm_ray._mlflow_model.BundleModel``)
  with its signature (the bundle's input columns -> P(ALNM)).  Loading it
  calls :func:`~alnm_ray.score.bundle.load_bundle`: the signature is checked
  against the trusted keys of the loading machine (``$ALNM_RAY_TRUSTED_KEYS``)
  and every checksum before anything is parsed, as ``score`` does.

MLflow is imported inside the functions (it is heavy and optional); the
client is ``mlflow-skinny`` (the tracking client and pyfunc without the
server), pinned in ``requirements/constraints.txt``.
"""

from __future__ import annotations

import json
import logging
import os
import re
from importlib import import_module
from pathlib import Path
from typing import Any

from alnm_ray.exceptions import ConfigError
from alnm_ray.typing import PathLike

logger = logging.getLogger(__name__)

#: Environment variable MLflow itself reads; a CLI default for ``--mlflow-uri``.
URI_ENVVAR = "MLFLOW_TRACKING_URI"
#: Experiment runs are logged under unless told otherwise.
DEFAULT_EXPERIMENT = "alnm-ray"
#: File in a tune run folder naming its MLflow run.
RUN_RECORD = "mlflow_run.json"
#: Run-folder files uploaded as artifacts (those that exist).
RUN_ARTIFACTS: tuple[str, ...] = ("summary.csv", "holdout_metrics.json", "external_metrics.csv",
                                  "report.html", "checklist_tripod_ai.md", "checklist_clear.md")
#: Run-folder keys logged as parameters.
RUN_PARAMS: tuple[str, ...] = ("run_id", "preset", "repeats", "folds", "seed", "reader", "cv_on", "patients",
                               "classifiers", "feature_sets", "clinical")


def import_optional(module: str = "mlflow", *, extra: str = "mlflow", option: str = "--mlflow-uri") -> Any:
    """Import an optional dependency or raise a four-part :class:`ConfigError` saying how to install it.

    Example:
        >>> import_optional("json").__name__
        'json'
    """
    try:
        return import_module(module)
    except ImportError as err:
        raise ConfigError(
            f"{option}: expected the optional package {module!r} (the alnm-ray[{extra}] extra) to be installed; "
            f"it is not ({err}). Install it with `pip install 'alnm-ray[{extra}]'`, or drop {option} "
            f"(and unset ${URI_ENVVAR}).") from err


def _metric_key(*parts: str) -> str:
    return "/".join(re.sub(r"[^\w.\- :]", "_", str(p)) for p in parts)


def _start(uri: str, experiment: str | None) -> Any:
    mlflow = import_optional()
    mlflow.set_tracking_uri(uri)
    try:
        mlflow.set_experiment(experiment or DEFAULT_EXPERIMENT)
    except mlflow.exceptions.MlflowException as err:
        raise ConfigError(_refused(uri, err)) from err
    return mlflow


def _refused(uri: str, err: BaseException) -> str:
    text = str(err).splitlines()[0][:300] if str(err) else type(err).__name__
    fix = ("set MLFLOW_ALLOW_FILE_STORE=true to keep a local file store (what the alnm-ray[mlflow] client "
           "writes), or log to a tracking server (--mlflow-uri http://host:5000); a database store "
           "(sqlite:///path/mlflow.db) needs the full mlflow package"
           if "filesystem tracking backend" in text or "file store" in text.lower() else
           "check the URI (sqlite:///path/mlflow.db, http://host:5000) and that the server is reachable")
    return (f"--mlflow-uri {uri!r}: expected an MLflow tracking store that accepts runs; MLflow refused it "
            f"({text}). Fix: {fix}.")


def check_uri(uri: str, *, experiment: str | None = None) -> None:
    """Fail fast, before hours of work, when MLflow refuses ``uri`` (a file store MLflow 3 no longer
    accepts, a server that does not answer).

    Raises:
        ConfigError: The four-part message naming the URI and the fix.
    """
    _start(uri, experiment)


def log_tune_run(uri: str, run_dir: PathLike, *, experiment: str | None = None) -> str:
    """Log a finished tune run folder to MLflow; return the MLflow run id.

    Args:
        uri: Tracking URI (``file:///…``, ``http://…``, ``sqlite:///…`` with full MLflow).
        run_dir: The run folder written by ``alnm-ray tune``.
        experiment: MLflow experiment (default ``alnm-ray``).
    """
    import pandas as pd

    run_path = Path(run_dir)
    run = json.loads((run_path / "run.json").read_text(encoding="utf-8"))
    mlflow = _start(uri, experiment)
    params: dict[str, Any] = {k: run.get(k) for k in RUN_PARAMS if k in run}
    params.update({f"table.{t}": v for t, v in (run.get("tables") or {}).items()})
    params["search"] = (run.get("search") or {}).get("kind", "grid")
    params["holdout_source"] = (run.get("holdout") or {}).get("source")
    versions = (run.get("versions") or {}).get("python_packages") or {}
    params.update({f"version.{k}": v for k, v in versions.items()})
    with mlflow.start_run(run_name=f"tune {str(run.get('run_id', ''))[:12]}") as active:
        mlflow.log_params({k: json.dumps(v) if isinstance(v, (list, dict)) else v for k, v in params.items()})
        mlflow.set_tags({"alnm_ray.kind": "tune", "alnm_ray.run_dir": str(run_path.resolve())})
        summary_path = run_path / "summary.csv"
        if summary_path.is_file():
            summary = pd.read_csv(summary_path)
            metrics = {}
            for row in summary.to_dict(orient="records"):
                for col, value in row.items():
                    if col in ("feature_set", "classifier") or not isinstance(value, (int, float)):
                        continue
                    if pd.notna(value):
                        metrics[_metric_key(row["feature_set"], row["classifier"], col)] = float(value)
            mlflow.log_metrics(metrics)
        for name in RUN_ARTIFACTS:
            if (run_path / name).is_file():
                mlflow.log_artifact(str(run_path / name))
        run_id = str(active.info.run_id)
    (run_path / RUN_RECORD).write_text(json.dumps({"tracking_uri": uri, "run_id": run_id}), encoding="utf-8")
    logger.info("logged tune run %s to MLflow %s (run %s)", run_path, uri, run_id)
    return run_id


def log_report(run_dir: PathLike, report: PathLike) -> str | None:
    """Add a built report to the MLflow run of its tune run folder, when the run was tracked.

    Returns:
        The MLflow run id, or None when the run folder names none.
    """
    record = Path(run_dir) / RUN_RECORD
    if not record.is_file():
        return None
    info = json.loads(record.read_text(encoding="utf-8"))
    mlflow = import_optional(option=str(record))
    mlflow.set_tracking_uri(info["tracking_uri"])
    with mlflow.start_run(run_id=info["run_id"]):
        mlflow.log_artifact(str(report))
    return str(info["run_id"])


def log_bundle(uri: str, bundle_path: PathLike, *, experiment: str | None = None) -> str:
    """Log a bundle as an MLflow model (pyfunc, with its signature) in a new MLflow run; return its model URI.

    Args:
        uri: Tracking URI.
        bundle_path: The bundle folder (verified before logging).
        experiment: MLflow experiment (default ``alnm-ray``).
    """
    import numpy as np
    import pandas as pd

    from alnm_ray._version import __version__
    from alnm_ray.score.bundle import load_bundle

    bundle = load_bundle(bundle_path)  # refuse to publish a bundle that does not verify here
    mlflow = _start(uri, experiment)
    from mlflow.models import infer_signature

    from alnm_ray import _mlflow_model

    columns = bundle.features
    example = pd.DataFrame(np.zeros((1, len(columns))), columns=columns)
    signature = infer_signature(example, pd.DataFrame({"probability": [0.5]}))
    meta = bundle.metadata
    with mlflow.start_run(run_name=f"train {meta['feature_set']}/{meta['classifier']}") as active:
        mlflow.log_params({"feature_set": meta["feature_set"], "classifier": meta["classifier"],
                           "threshold": bundle.threshold, "bundle_id": bundle.bundle_id,
                           "seeds": json.dumps(meta.get("seeds")), "n_patients": meta["training"]["n_patients"],
                           "n_positive": meta["training"]["n_positive"]})
        if "apparent_auc" in meta["training"]:
            mlflow.log_metric("apparent_auc", float(meta["training"]["apparent_auc"]))
        mlflow.set_tags({"alnm_ray.kind": "train", "alnm_ray.bundle_id": bundle.bundle_id})
        info = mlflow.pyfunc.log_model(name="bundle", python_model=_mlflow_model.__file__,
                                       artifacts={"bundle": str(bundle_path)}, signature=signature,
                                       pip_requirements=[f"alnm-ray=={__version__}"])
        card = bundle.extras.get("model_card")
        if card is not None:
            mlflow.log_text(card.decode("utf-8"), "MODEL_CARD.md")
        logger.info("logged bundle %s to MLflow %s (run %s)", bundle.bundle_id, uri, active.info.run_id)
    return str(info.model_uri)


def resolve_uri(value: str | None) -> str | None:
    """``--mlflow-uri`` or ``$MLFLOW_TRACKING_URI``; None (tracking off) when neither is set."""
    return value or os.environ.get(URI_ENVVAR) or None
