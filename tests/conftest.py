"""Shared fixtures: seeds, a real local Ray per test module, agg plots."""

from __future__ import annotations

import os

import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

# Ray Data attaches its log handlers on first import, bound to the sys.stderr of
# that moment. Importing it here keeps them off CliRunner's short-lived capture
# streams (a real CLI process imports it once, inside its only command).
import ray.data  # noqa: E402,F401
import logging  # noqa: E402

# A handler that a library bound to a CliRunner stream (closed after the call)
# must not print "--- Logging error ---" into a later command's output.
logging.raiseExceptions = False

# One thread per numerical library, as Ray workers get: keeps 2-core CI honest.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

SHARED = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "shared"))


@pytest.fixture
def seed() -> int:
    return 20241482


@pytest.fixture
def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.fixture(scope="session", autouse=True)
def bundle_keys(tmp_path_factory):
    """A real Ed25519 key pair that signs and is trusted for every bundle the tests write.

    Sets ``ALNM_RAY_SIGNING_KEY`` and ``ALNM_RAY_TRUSTED_KEYS`` for the session, as a
    site that made its key with `alnm-ray keys create` would. Returns ``(private, public)``.
    """
    from alnm_ray.score.signing import SIGNING_KEY_ENVVAR, TRUSTED_KEYS_ENVVAR, create_key_pair

    private, public = create_key_pair(tmp_path_factory.mktemp("keys"), "tests")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(SIGNING_KEY_ENVVAR, str(private))
        mp.setenv(TRUSTED_KEYS_ENVVAR, str(public))
        yield private, public


@pytest.fixture(scope="module")
def ray_local():
    """A real embedded Ray with 2 CPUs for the whole test module."""
    import ray

    from alnm_ray.runtime import RayConfig, init_ray, shutdown_ray

    started = init_ray(RayConfig(num_cpus=2, quiet=True))
    yield ray
    if started:
        shutdown_ray()


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


@pytest.fixture
def shared_data() -> str:
    """Path of the shared reference data; skips when it is absent."""
    path = os.path.join(SHARED, "data")
    if not os.path.isdir(path):
        pytest.skip("shared reference data not present")
    return path


@pytest.fixture(autouse=True)
def _no_handlers_on_closed_streams():
    """Re-point log handlers left on a closed CliRunner stream back at stderr.

    Libraries (Ray among them) attach handlers to whatever ``sys.stderr`` is
    when they first log; under CliRunner that stream is closed after the call,
    and a later record would print "--- Logging error ---" into the next output.
    """
    import logging
    import sys

    yield
    loggers = [logging.getLogger()] + [lg for lg in logging.Logger.manager.loggerDict.values()
                                       if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            stream = getattr(handler, "stream", None)
            if stream is not None and getattr(stream, "closed", False):
                handler.stream = sys.__stderr__  # setStream() would flush the closed stream
