"""A small multicentre protocol with ComBat on (the example protocol, shrunk) and its store."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from alnm_ray.protocol import parse_protocol
from alnm_ray.protocol.model import Protocol

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "protocols" / "multicentre_combat.yaml"


def make_store(path: Path, **kw: Any) -> dict:
    """tests/tune/conftest.py's tiny store factory (loaded by path: conftests are not importable)."""
    spec = importlib.util.spec_from_file_location("_tune_store_factory_combat",
                                                  Path(__file__).resolve().parents[1] / "tune" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.make_store(path, **kw)


def combat_protocol(*, post: bool = False) -> Protocol:
    """examples/protocols/multicentre_combat.yaml with a light selection and one classifier.

    ComBat stays on for the radiomics features (``harmonize: combat``); ICC, SMOTE and the
    LASSO are off so a fit takes well under a second.
    """
    d = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    d["sequences"] = ["T2WI", "DWI"]
    d["feature_sets"] = {"pre": ["radiomics", "deep"], **({"post": ["post:radiomics+deep"]} if post else {})}
    d["classifiers"] = {"models": {"lr": {}}, **({"post_fusion": {"inner_folds": 3}} if post else {})}
    d["selection"]["shared"].update(icc_threshold=None, smote=False)
    d["selection"]["radiomics"]["steps"] = ["univariate"]
    d["selection"]["deep"]["steps"] = ["univariate"]
    d["final_model"] = {"rule": "fixed", "feature_set": "post:radiomics+deep" if post else "radiomics",
                        "classifier": "lr"}
    d["report"], d["assumed"] = {}, []
    return parse_protocol(yaml.safe_dump(d), "combat-test")
