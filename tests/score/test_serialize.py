"""skops only (pickle never written nor loaded) and an exact, reviewed trusted-types list."""

from __future__ import annotations

import fractions
import importlib
import io
import json
import pickle
import re
import zipfile

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.linear_model import LogisticRegression

from alnm_ray.exceptions import BundleIntegrityError, ConfigError
from alnm_ray.score.serialize import (LIBRARY_TYPES, OWN_TYPES, TRUSTED_TYPES, UntrustedTypeError, dump_model,
                                      is_trusted, load_model)

CLASSIFIER_NAMES = ["lr", "nb", "svm", "knn", "xgboost", "lightgbm", "adaboost", "mlp", "sgd"]
#: Classifier parameters that bring in the other helper types a user can ask for with --param.
VARIANTS = [("knn", {"algorithm": "ball_tree"}), ("knn", {"metric": "manhattan"}), ("knn", {"p": 3}),
            ("mlp", {"solver": "adam"}), ("mlp", {"solver": "sgd"})]
#: Names an attacker can write into a skops file: aliases of other libraries' objects under our
#: package (the old prefix rule let them through), and plain code-running builtins.
REFUSED = ["alnm_ray.select.routing.clone", "alnm_ray.cli.main.Group.main", "builtins.eval", "os.system",
           "sklearn.base.clone", "builtins.exec", "subprocess.Popen", "alnm_ray.select.routing",
           "alnm_ray.score.frozen", "alnm_ray.score.frozen.np.load"]


class _Tripwire:
    """Unpickling this object writes a file: proof that pickle ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def _with_class(data: bytes, module: str, name: str) -> bytes:
    """A skops archive whose top-level object claims to be ``module.name`` (what a forger writes)."""
    src = zipfile.ZipFile(io.BytesIO(data))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as out:
        for item in src.infolist():
            blob = src.read(item)
            if item.filename == "schema.json":
                schema = json.loads(blob)
                schema["__module__"], schema["__class__"] = module, name
                blob = json.dumps(schema).encode()
            out.writestr(item, blob)
    return buf.getvalue()


def test_selection_pipeline_is_saved_with_skops_and_reloads_identically(train_data, fitted):
    X, _ = train_data
    data, info = dump_model(fitted, probe=X)
    assert info["format"] == "skops"
    assert "imblearn.pipeline.Pipeline" in info["trusted_types"]
    assert set(info["trusted_types"]) <= TRUSTED_TYPES
    again = load_model(data, "skops")
    np.testing.assert_array_equal(again.predict_proba(X), fitted.predict_proba(X))


@pytest.mark.parametrize("name", CLASSIFIER_NAMES)
def test_every_registered_classifier_saves_with_skops(name, train_data, pipeline_factory):
    from imblearn.pipeline import Pipeline

    from alnm_ray.model.classifiers import make_classifier

    X, y = train_data
    model = Pipeline(pipeline_factory().steps[:-1] + [("clf", make_classifier(name, seed=0))]).fit(X, y)
    data, info = dump_model(model, probe=X)
    assert info["format"] == "skops"
    np.testing.assert_array_equal(load_model(data, "skops").predict_proba(X), model.predict_proba(X))


def test_registry_has_exactly_the_classifiers_checked_here():
    from alnm_ray.model.classifiers import CLASSIFIERS

    assert sorted(CLASSIFIERS) == sorted(CLASSIFIER_NAMES)  # a new one must be added to the type check below


def _wide_with_every_kind(rng, long_factory):
    """Radiomics (T2WI, ADC; readers A, B, A2), deep and clinical (numeric with NaN, categorical) columns."""
    from alnm_ray.store import to_wide

    long = long_factory(rng, 60)
    wide = to_wide(long[long["reader"] == "A"])
    y = wide["label"].astype(int).to_numpy()
    X = wide[[c for c in wide.columns if "__" in c]].copy()
    X.index = X.index.astype(str)
    for i in range(6):
        X[f"T2WI__deep_{i:03d}"] = rng.normal(size=len(X)) + 0.8 * y
    X["age"] = rng.normal(50, 10, size=len(X))
    X.loc[X.index[:3], "age"] = np.nan
    X["grade"] = np.where(rng.random(len(X)) < 0.5, "2", "3")
    return X, y, long


def test_trusted_types_are_exactly_what_the_classifiers_and_selection_steps_need(rng, long_factory):
    """Trains every classifier and every selection preset as `alnm-ray train` does; the list has no spare entry."""
    from alnm_ray.model.classifiers import make_classifier
    from alnm_ray.score import pandas_state
    from alnm_ray.score.frozen import FrozenModel
    from alnm_ray.score.train import _strip_training_rows
    from alnm_ray.select.pipeline import resolve_config

    from alnm_ray.model.fitting import fit_selection

    X, y, long = _wide_with_every_kind(rng, long_factory)
    needed: dict[str, set[str]] = {}

    def record(case: str, model) -> None:
        data = sio.dumps(pandas_state.encode(model))
        types = set(sio.get_untrusted_types(data=data))
        assert types <= TRUSTED_TYPES, f"{case} needs unreviewed types {sorted(types - TRUSTED_TYPES)}"
        for t in types:
            needed.setdefault(t, set()).add(case)

    cnn1d = {"preset": "gu2025", "cnn1d_epochs": 1, "kind_steps": {"deep": ["cnn1d", "importance"]}}
    for preset in ("guo2024", "liu2025", "gu2025", "zhang2025", cnn1d):
        changes = {"preset": preset, "lasso_repeats": 1, "lasso_folds": 3}
        sel = fit_selection(X, y, resolve_config({**changes, **preset} if isinstance(preset, dict) else changes),
                            reader_table=long, seed=0)
        preset = preset if isinstance(preset, str) else "gu2025+cnn1d"
        _strip_training_rows(sel.pipeline)
        for name in CLASSIFIER_NAMES if preset == "guo2024" else ["lr"]:
            clf = make_classifier(name, seed=0).fit(sel.X_train.to_numpy(dtype=float), sel.y_train)  # as train does
            record(f"{preset}/{name}", FrozenModel(sel.pipeline, clf, list(X.columns)).fit())
    from alnm_ray.model.inputs import prepare_metadata

    combat = resolve_config({"preset": "liu2025", "harmonize": "combat", "lasso_repeats": 1, "lasso_folds": 3})
    centres = pd.Series(np.where(np.arange(len(X)) % 2, "c1", "c2"), index=X.index)
    sel = fit_selection(X, y, combat, seed=0, metadata=prepare_metadata(combat, X.index, centres))
    clf = make_classifier("lr", seed=0).fit(sel.X_train.to_numpy(dtype=float), sel.y_train)
    record("liu2025+combat/lr", FrozenModel(sel.pipeline, clf, list(X.columns), batch_column="center").fit())
    Xn = X.iloc[:, :10].to_numpy(dtype=float)
    for name, params in VARIANTS:
        record(f"{name} {params}", make_classifier(name, seed=0, **params).fit(Xn, y))
    assert {"alnm_ray.select.routing.KindRouter", "alnm_ray.select.encode.ClinicalEncoder",
            "alnm_ray.select.mutual_info.MutualInfoSelector", "alnm_ray.select.importance.ImportanceSelector",
            "alnm_ray.select.icc.ICCFilter", "alnm_ray.select.differential.DifferentialFilter",
            "alnm_ray.select.cnn1d.CNN1DFeatures", "alnm_ray.select.combat.ComBatHarmonizer"} <= set(needed)  # every kind of step was really exercised
    assert set(needed) == TRUSTED_TYPES, f"reviewed but never needed: {sorted(TRUSTED_TYPES - set(needed))}"


@pytest.mark.parametrize("name", sorted(TRUSTED_TYPES))
def test_every_trusted_name_is_the_canonical_name_of_a_class(name):
    """No alias: the name is where the class is defined, so nothing else can be imported under it."""
    module, _, attr = name.rpartition(".")
    obj = getattr(importlib.import_module(module), attr)
    assert isinstance(obj, type) and f"{obj.__module__}.{obj.__qualname__}" == name


@pytest.mark.parametrize("name", REFUSED)
def test_names_outside_the_exact_list_are_refused(name):
    assert not is_trusted(name)


@pytest.mark.parametrize("target", ["alnm_ray.select.routing.clone", "alnm_ray.cli.main.Group.main",
                                    "builtins.eval", "os.system"])
def test_a_skops_file_naming_an_alias_or_builtin_is_refused_before_anything_is_built(target, train_data):
    X, y = train_data
    module, _, name = target.rpartition(".")
    forged = _with_class(sio.dumps(LogisticRegression().fit(X, y)), module, name)
    assert target in sio.get_untrusted_types(data=forged)
    with pytest.raises(UntrustedTypeError, match=rf"found {re.escape(target)}\. Nothing was built"):
        load_model(forged, "skops")


def test_own_types_are_listed_by_class_not_by_prefix():
    assert OWN_TYPES and all(t.startswith("alnm_ray.") for t in OWN_TYPES)
    assert not any(t.startswith("alnm_ray.") for t in LIBRARY_TYPES)
    assert not is_trusted("alnm_ray.") and not is_trusted("alnm_ray.select.scale.ZScoreScaler.fit")


def test_a_model_skops_cannot_rebuild_is_refused_never_pickled(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.pattern_ = re.compile(r"T2WI__.*")  # pickle could save it; skops names an unreviewed type
    with pytest.raises(ConfigError, match=r"found re\.Pattern\. Check that these types"):
        dump_model(model, probe=X)
    model.pattern_ = (i for i in range(3))  # skops cannot save a generator (neither can pickle)
    with pytest.raises(ConfigError, match=r"expected a fitted pipeline skops can save.*never fall back to pickle"):
        dump_model(model, probe=X)


def test_types_outside_the_list_are_refused_on_save_and_on_load(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.note_ = fractions.Fraction(1, 3)  # skops handles it, but nobody reviewed it
    with pytest.raises(ConfigError, match=r"found fractions\.Fraction\. Check that these types"):
        dump_model(model, probe=X)
    data = sio.dumps(model)
    with pytest.raises(UntrustedTypeError, match=r"found fractions\.Fraction\. Nothing was built"):
        load_model(data, "skops")


@pytest.mark.parametrize("fmt", ["joblib", "pickle", "JOBLIB"])
def test_pickle_formats_are_refused_without_reading_the_bytes(tmp_path, fmt):
    trip = tmp_path / "pickle-ran"
    data = pickle.dumps(_Tripwire(str(trip)))
    with pytest.raises(BundleIntegrityError, match=rf"expected format 'skops'; found '{fmt}', which unpickles"):
        load_model(data, fmt)
    assert not trip.exists()
    pickle.loads(data)  # the tripwire itself works
    assert trip.exists()


def test_unknown_format_is_refused():
    with pytest.raises(BundleIntegrityError, match="expected format 'skops'; found 'onnx'"):
        load_model(b"", "onnx")


def test_a_dataframe_attribute_travels_without_pickle(train_data):
    X, y = train_data
    model = LogisticRegression().fit(X, y)
    model.table_ = pd.DataFrame({"a": [1.0, 2.0]}, index=["x", "y"])
    data, info = dump_model(model, probe=X)
    assert info["format"] == "skops"
    pd.testing.assert_frame_equal(load_model(data, "skops").table_, model.table_)


_TRUSTED_LISTS = """
import json, sys
{setup}
from skops.io import _trusted_types as t
print(json.dumps({{"torch": "torch" in sys.modules, "lists": [sorted(map(str, getattr(t, n))) for n in sorted(dir(t))
                   if n.isupper() and isinstance(getattr(t, n), list)]}}))
"""


def test_loading_skops_does_not_import_torch_and_trusts_the_same_types():
    """skops lists scikit-learn's estimators by importing every sklearn package, torch's array API
    shim among them; the scoring path hides that one package, and skops's default-trusted types
    are the same as when it is imported."""
    import subprocess
    import sys

    def run(setup: str) -> dict:
        done = subprocess.run([sys.executable, "-c", _TRUSTED_LISTS.format(setup=setup)], capture_output=True,
                              text=True, check=True)
        return json.loads(done.stdout.splitlines()[-1])

    ours = run("from alnm_ray.score.serialize import skops_io\nskops_io()")
    plain = run("import skops.io")
    assert ours["torch"] is False
    assert ours["lists"] == plain["lists"] and sum(map(len, ours["lists"])) > 100


def test_a_package_hidden_while_skops_is_imported_can_be_imported_afterwards():
    import subprocess
    import sys

    code = ("import sys\nfrom alnm_ray.score.serialize import SKOPS_IMPORT_SKIPS, skops_io\nskops_io()\n"
            "assert all(m not in sys.modules for m in SKOPS_IMPORT_SKIPS)\n"
            "import importlib\nimportlib.import_module(SKOPS_IMPORT_SKIPS[0])\nprint('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "True"
