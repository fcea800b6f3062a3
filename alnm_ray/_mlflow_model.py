"""The MLflow pyfunc class of a bundle (imports mlflow: imported only when tracking is on)."""

from __future__ import annotations

from typing import Any

import mlflow.pyfunc


class BundleModel(mlflow.pyfunc.PythonModel):  # type: ignore[name-defined]
    """MLflow pyfunc wrapper of a bundle: verified on load, ``predict`` returns P(ALNM) per row.

    The bundle folder travels as the model's ``bundle`` artifact; :meth:`load_context`
    verifies it with :func:`~alnm_ray.score.bundle.load_bundle` (the signature against
    the loading machine's ``$ALNM_RAY_TRUSTED_KEYS``, then every checksum) before the
    model is rebuilt, exactly as ``alnm-ray score`` does.
    """

    def load_context(self, context: Any) -> None:
        from alnm_ray.score.bundle import load_bundle

        self.bundle = load_bundle(context.artifacts["bundle"])

    def predict(self, context: Any, model_input: Any, params: Any = None) -> Any:
        import pandas as pd

        return pd.DataFrame({"probability": self.bundle.predict_proba(pd.DataFrame(model_input))})


# "Models from code": MLflow stores this file and runs it on load, so no pickled object travels.
mlflow.models.set_model(BundleModel())
