"""Starting, connecting to and stopping Ray — never at import time.

The CLI calls :func:`ray_session` once per command.  Library code assumes Ray
is already running (it calls :func:`ensure_ray`, which starts an embedded
local Ray only when nothing is running, e.g. from a notebook).

Ray's token authentication, on by default for local clusters since 2.5x, is
left as Ray sets it: nothing here disables it.  When a cluster refuses the
driver's token, :func:`init_ray` raises one :class:`RayConnectionError` naming
``RAY_AUTH_TOKEN`` / ``RAY_AUTH_MODE`` and the fix; the warnings Ray's C++ core
prints on every retry (about twenty) go to the DEBUG log instead of the
console unless the console shows DEBUG.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alnm_ray.constants import ENV_RAY_ADDRESS, THREAD_ENV_VARS
from alnm_ray.exceptions import ConfigError, RayConnectionError

logger = logging.getLogger(__name__)

#: Namespace shared by every alnm-ray driver, so named actors can be found again.
RAY_NAMESPACE = "alnm_ray"
#: Text in a failed connection's error chain meaning the cluster refused the token.
AUTH_MARKERS = ("AuthenticationError", "InvalidAuthToken", "Unauthenticated")


@dataclass(frozen=True)
class RayConfig:
    """How to reach Ray.

    Args:
        address: A cluster address (``ray://…``, ``host:port`` or ``auto``).
            ``None`` uses ``RAY_ADDRESS`` when set, else starts an embedded local Ray.
        num_cpus: CPUs of the embedded local Ray (ignored when connecting).
        num_gpus: GPUs of the embedded local Ray (ignored when connecting).
        quiet: Hide worker logs on the driver.
    """

    address: str | None = None
    num_cpus: int | None = None
    num_gpus: int | None = None
    quiet: bool = False

    def resolved_address(self) -> str | None:
        """The address to connect to, or ``None`` for an embedded local Ray."""
        return self.address or os.environ.get(ENV_RAY_ADDRESS) or None


def env_int(name: str, default: int, *, minimum: int = 0, meaning: str = "") -> int:
    """The integer setting ``$name`` (``default`` when unset or empty).

    Raises:
        ConfigError: A value that is not an integer >= ``minimum`` (the message says what it means).

    Example:
        >>> env_int("ALNM_RAY_DOCTEST_UNSET", 7)
        7
    """
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        what = f" ({meaning})" if meaning else ""
        kind = "a non-negative integer" if minimum == 0 else f"an integer >= {minimum}"
        raise ConfigError(f"{name}: expected {kind}{what}; got {raw!r}. Fix or unset it.")
    return value


def worker_env_vars() -> dict[str, str]:
    """Environment for Ray workers: one BLAS/OpenMP/ITK thread per task.

    Ray schedules one task per CPU; a task whose BLAS also spreads over every
    core oversubscribes the machine (measured several-fold slow-downs on 2 cores).
    """
    return {name: "1" for name in THREAD_ENV_VARS}


def init_ray(config: RayConfig | None = None) -> bool:
    """Start or connect to Ray unless it is already initialised.

    Args:
        config: How to reach Ray; defaults to an embedded local Ray.

    Returns:
        ``True`` when this call started or connected (so the caller owns the
        shutdown), ``False`` when Ray was already initialised.
    """
    import ray

    if ray.is_initialized():
        return False
    config = config or RayConfig()
    address = config.resolved_address()
    kwargs: dict[str, Any] = {
        "namespace": RAY_NAMESPACE,
        "log_to_driver": not config.quiet,
        "logging_level": logging.WARNING,
    }
    if address is None:
        # "local" always starts a fresh embedded Ray instead of attaching to a
        # stray cluster left running on the machine.
        kwargs.update(address="local", num_cpus=config.num_cpus, num_gpus=config.num_gpus,
                      include_dashboard=False)
        logger.info("starting an embedded local Ray (num_cpus=%s)", config.num_cpus or "all")
        # The thread limits reach the workers through the environment the local
        # raylet inherits, not through a job runtime_env: workers of a job
        # with a runtime_env cannot be the ones Ray pre-starts, so every first
        # task or Tune trial waited for a new worker process (measured 4-6 s on
        # a loaded 2-core machine, against ~1 s with the pre-started ones).
        with environ(local_start_env()):
            ray.init(**kwargs)
        return True
    kwargs.update(address=address, runtime_env={"env_vars": worker_env_vars()})
    logger.info("connecting to the Ray cluster at %s", address)
    try:
        with _native_stderr_to_debug():
            ray.init(**kwargs)
    except (ConnectionError, RuntimeError) as err:
        raise connection_error(address, err) from err
    return True


def local_start_env() -> dict[str, str]:
    """Environment set while an embedded Ray starts (its processes inherit it).

    One BLAS/OpenMP thread per worker (:func:`worker_env_vars`), and no usage-
    statistics reporting thread (an embedded Ray is a private, offline one).
    """
    return {**worker_env_vars(), "RAY_USAGE_STATS_ENABLED": "0"}


@contextlib.contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for the duration of the block, then restore them.

    Example:
        >>> import os
        >>> with environ({"ALNM_RAY_EXAMPLE": "1"}):
        ...     os.environ["ALNM_RAY_EXAMPLE"]
        '1'
        >>> "ALNM_RAY_EXAMPLE" in os.environ
        False
    """
    old = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _chain_text(err: BaseException) -> str:
    parts, seen = [], set()
    cur: BaseException | None = err
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        parts.append(f"{type(cur).__name__}: {cur}")
        cur = cur.__cause__ or cur.__context__
    return "\n".join(parts)


def _token_source() -> str:
    if os.environ.get("RAY_AUTH_TOKEN"):
        return "the RAY_AUTH_TOKEN environment variable"
    if os.environ.get("RAY_AUTH_TOKEN_PATH"):
        return f"the file named by RAY_AUTH_TOKEN_PATH ({os.environ['RAY_AUTH_TOKEN_PATH']})"
    default = Path.home() / ".ray" / "auth_token"
    return str(default) if default.is_file() else "nowhere (no token is set)"


def connection_error(address: str, err: BaseException) -> RayConnectionError:
    """The user-facing error for a failed ``ray.init(address=...)``.

    A refused token (Ray's ``AuthenticationError`` anywhere in the chain) gets
    the token fix; anything else the address fix.  The token itself is never
    shown.
    """
    text = _chain_text(err)
    if any(marker in text for marker in AUTH_MARKERS):
        mode = os.environ.get("RAY_AUTH_MODE") or "unset"
        return RayConnectionError(
            f"Ray cluster at {address}: expected this driver's authentication token to match the "
            f"cluster's; the cluster refused it (RAY_AUTH_MODE={mode}, token from {_token_source()}). "
            "Set RAY_AUTH_TOKEN to the cluster's token (`ray get-auth-token` on the head node prints "
            "it; or point RAY_AUTH_TOKEN_PATH at a file holding it) and RAY_AUTH_MODE=token, then "
            "re-run."
        )
    first = text.splitlines()[0] if text else type(err).__name__
    return RayConnectionError(
        f"Ray cluster at {address}: expected a running Ray cluster to connect to; could not "
        f"connect ({first}). Check the address (--address or RAY_ADDRESS) and that the cluster is "
        "up (`ray status` on its head node), or drop --address to run on an embedded local Ray."
    )


def _console_shows_debug() -> bool:
    root = logging.getLogger("alnm_ray")
    return any(getattr(h, "_alnm_console", False) and h.level <= logging.DEBUG for h in root.handlers)


@contextlib.contextmanager
def _native_stderr_to_debug() -> Iterator[None]:
    """Route what Ray's C++ core writes to stderr (fd 2) while connecting to the DEBUG log.

    A refused token makes Ray retry for ~20 s with one ``gcs_client`` warning
    per retry, written by C++ straight to file descriptor 2 (Python logging
    cannot filter it).  The descriptor is pointed at a temporary file for the
    duration of the connect only; the text is then logged at DEBUG (the run
    log keeps it).  Nothing is redirected when the console shows DEBUG.
    """
    if _console_shows_debug():
        yield
        return
    try:
        saved = os.dup(2)
    except OSError:  # no usable stderr descriptor: nothing to hide
        yield
        return
    with tempfile.TemporaryFile() as sink:
        sys.stderr.flush()
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            captured = sink.read().decode("utf-8", "replace").strip()
            if captured:
                logger.debug("Ray's native log while connecting:\n%s", captured)


def ensure_ray() -> None:
    """Make sure Ray is running (start an embedded one if needed)."""
    init_ray(RayConfig(quiet=True))


def shutdown_ray() -> None:
    """Disconnect from (or stop the embedded) Ray."""
    import ray

    if ray.is_initialized():
        ray.shutdown()


@contextlib.contextmanager
def ray_session(config: RayConfig | None = None) -> Iterator[None]:
    """Run a block with Ray available; shut it down afterwards if we started it.

    Example:
        >>> with ray_session(RayConfig(num_cpus=1, quiet=True)):  # doctest: +SKIP
        ...     pass
    """
    started = init_ray(config)
    try:
        yield
    finally:
        if started:
            shutdown_ray()


def cluster_cpus() -> float:
    """CPUs the running cluster declares."""
    import ray

    return float(ray.cluster_resources().get("CPU", 1.0))
