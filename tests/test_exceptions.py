"""One exception module: every public error and warning lives in alnm_ray.exceptions and the package root."""

from __future__ import annotations

import ast
import inspect
import pathlib
import pickle
import subprocess
import sys
import warnings

import pytest
from click.testing import CliRunner

import alnm_ray
from alnm_ray import exceptions

PUBLIC = [getattr(exceptions, name) for name in exceptions.__all__]
PACKAGE = pathlib.Path(alnm_ray.__file__).parent


def test_all_lists_every_class_defined_there() -> None:
    defined = {name for name, obj in vars(exceptions).items()
               if inspect.isclass(obj) and obj.__module__ == exceptions.__name__}
    assert defined == set(exceptions.__all__)


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_importable_from_the_package_root(cls: type) -> None:
    assert getattr(alnm_ray, cls.__name__) is cls
    assert cls.__name__ in alnm_ray.__all__
    assert cls.__doc__ and len(cls.__doc__.split()) >= 4


@pytest.mark.parametrize("cls", PUBLIC, ids=lambda c: c.__name__)
def test_every_error_is_an_alnm_ray_error_and_every_warning_an_alnm_ray_warning(cls: type) -> None:
    if issubclass(cls, Warning):
        assert issubclass(cls, exceptions.AlnmRayWarning) and issubclass(cls, UserWarning)
    else:
        assert issubclass(cls, exceptions.AlnmRayError)


@pytest.mark.parametrize(("cls", "builtin"), [
    (exceptions.ManifestError, ValueError), (exceptions.GeometryMismatchError, ValueError),
    (exceptions.ExtractionError, RuntimeError), (exceptions.StageError, exceptions.ExtractionError),
    (exceptions.NotFittedError, AttributeError), (exceptions.NotFittedError, ValueError),
    (exceptions.SchemaMismatchError, ValueError),
    (exceptions.StoreDamageError, exceptions.StoreError), (exceptions.StoreError, RuntimeError),
    (exceptions.BundleSignatureError, exceptions.BundleIntegrityError), (exceptions.WeightsError,
                                                                         exceptions.ConfigError),
    (exceptions.ConfigError, ValueError), (exceptions.InvalidPredictionsError, ValueError),
    (exceptions.LogisticFitError, ValueError), (exceptions.SweepError, RuntimeError),
    (exceptions.PhantomError, FileNotFoundError), (exceptions.RayConnectionError, RuntimeError),
])
def test_hierarchy_keeps_the_builtin_types_callers_catch(cls: type, builtin: type) -> None:
    assert issubclass(cls, builtin)


def test_importing_the_package_stays_cheap() -> None:
    code = ("import sys, alnm_ray\nfrom alnm_ray import ManifestError, AlnmRayWarning\n"
            "print(','.join(m for m in ('sklearn', 'pandas', 'ray', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", check=True)
    assert out.stdout.strip() == ""


def test_not_fitted_error_is_scikit_learns_and_pickles() -> None:
    from sklearn.exceptions import NotFittedError as SklearnNotFittedError

    err = exceptions.NotFittedError("ICCFilter: call fit first.")
    assert isinstance(err, SklearnNotFittedError) and isinstance(err, exceptions.AlnmRayError)
    again = pickle.loads(pickle.dumps(err))
    assert type(again) is exceptions.NotFittedError and str(again) == "ICCFilter: call fit first."


def test_stage_error_keeps_stage_and_cause() -> None:
    cause = ValueError("spacing must be > 0")
    err = exceptions.StageError("resample", cause)
    assert (err.stage, err.cause, str(err)) == ("resample", cause, "resample: ValueError: spacing must be > 0")


def test_manifest_error_lists_every_problem() -> None:
    err = exceptions.ManifestError(["row 2: a", "row 3: b"], source="m.csv")
    assert str(err) == "m.csv: 2 problem(s) found:\n  - row 2: a\n  - row 3: b"


def test_moved_classes_are_the_same_objects_at_their_old_import_paths() -> None:
    from alnm_ray.embed.weights import WeightsError
    from alnm_ray.preprocess.pipeline import StageError
    from alnm_ray.score.signing import BundleSignatureError
    from alnm_ray.stats import InvalidPredictionsError, LogisticFitError
    from alnm_ray.tune import SweepError

    assert (WeightsError, StageError, BundleSignatureError, InvalidPredictionsError, LogisticFitError,
            SweepError) == (exceptions.WeightsError, exceptions.StageError, exceptions.BundleSignatureError,
                            exceptions.InvalidPredictionsError, exceptions.LogisticFitError,
                            exceptions.SweepError)


def test_a_package_error_becomes_exit_2_with_its_message() -> None:
    import click

    from alnm_ray.cli._errors import run_guarded

    def fail() -> None:
        raise exceptions.SweepError("sweep: 2 trial(s) failed; re-run to finish.")

    @click.command()
    def command() -> None:
        run_guarded(fail, debug=False)

    result = CliRunner().invoke(command, [])
    assert result.exit_code == 2 and "sweep: 2 trial(s) failed; re-run to finish." in result.output


def test_warnings_filter_by_the_base_category() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("ignore")
        warnings.simplefilter("always", exceptions.AlnmRayWarning)
        warnings.warn("drift", exceptions.DriftWarning, stacklevel=1)
        warnings.warn("other", UserWarning, stacklevel=1)
    assert [str(w.message) for w in caught] == ["drift"]


def _defined_elsewhere() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "exceptions.py" or "cli" in path.relative_to(PACKAGE).parts:
            continue  # click's own exception types live in cli/_errors.py
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith(("Error", "Warning")):
                found.append(f"{path.relative_to(PACKAGE)}:{node.name}")
    return found


def test_no_error_class_outside_the_exception_module() -> None:
    assert _defined_elsewhere() == []
