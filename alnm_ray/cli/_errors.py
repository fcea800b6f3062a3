"""Turning errors into one clear paragraph and a non-zero exit."""

from __future__ import annotations

import errno
import logging
import os
import sys
from collections.abc import Callable
from typing import TypeVar

import click

from alnm_ray.exceptions import AlnmRayError

T = TypeVar("T")
logger = logging.getLogger("alnm_ray.cli")

#: Exit code for errors in the user's input or configuration.
EXIT_USER_ERROR = 2
#: Exit code for a batch job that finished with failed cases.
EXIT_CASE_FAILURES = 3
#: Exit code for an unexpected internal error.
EXIT_INTERNAL = 70
#: Exit code after Ctrl-C / SIGINT (128 + SIGINT, the shell convention), so `a && b` stops.
EXIT_INTERRUPTED = 130
#: Exit code when the reader of standard output went away (`alnm-ray sql … | head`): 128 + SIGPIPE.
EXIT_BROKEN_PIPE = 141
#: OS error numbers of failed writes -> the fix.
_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free space or write to another volume",
    errno.EDQUOT: "the disk quota is exhausted: free space or write to another volume",
    errno.EROFS: "the filesystem is read-only: write to a writable folder",
    errno.EIO: "the device reported an I/O error: check the disk or network mount",
}
#: OS error numbers that mean a file or folder could not be read or written.
_FS_ERRNOS: frozenset[int] = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO, errno.EACCES, errno.EPERM, errno.ENOENT,
     errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.ENOTEMPTY, errno.EFBIG, errno.ENAMETOOLONG,
     errno.EXDEV, errno.EMFILE, errno.ENFILE, errno.ELOOP, errno.ESTALE}
)


class UserError(click.ClickException):
    """A ClickException whose text is already a complete, fixable message."""

    exit_code = EXIT_USER_ERROR

    def format_message(self) -> str:
        return self.message


class Interrupted(UserError):
    """The user interrupted the command (Ctrl-C / SIGINT): exit 130 with what to do next."""

    exit_code = EXIT_INTERRUPTED

    def __init__(self, message: str = "interrupted (Ctrl-C / SIGINT) before the command finished. "
                                      "Re-run the same command to try again.") -> None:
        super().__init__(message)


def run_guarded(fn: Callable[[], T], *, debug: bool) -> T:
    """Call ``fn``; turn package errors into :class:`UserError` unless ``debug``.

    Unexpected errors become a short message naming the type and the
    ``--debug`` flag; the traceback goes to the DEBUG log only.
    """
    try:
        return fn()
    except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
        raise
    except AlnmRayError as err:
        if debug:
            raise
        raise UserError(str(err)) from err
    except (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError) as err:
        if debug:
            raise
        raise UserError(
            f"{err.filename or 'file'}: {err.strerror or err}. Check the path exists and is "
            "readable/writable by this user."
        ) from err
    except BrokenPipeError as err:
        if debug:
            raise
        if stdout_reader_gone():  # `… | head`: stop quietly, like any Unix filter; not a network error
            _discard_stdout()
            raise click.exceptions.Exit(EXIT_BROKEN_PIPE) from None
        raise UserError(
            f"{err}: expected to reach a network service (a Ray cluster or a remote store); the "
            "connection failed. Check the address (--address or RAY_ADDRESS) and that the service "
            "is up; --debug shows the details."
        ) from err
    except ConnectionError as err:  # an OSError, but about a network peer, never a file
        if debug:
            raise
        raise UserError(
            f"{err}: expected to reach a network service (a Ray cluster or a remote store); the "
            "connection failed. Check the address (--address or RAY_ADDRESS) and that the service "
            "is up; --debug shows the details."
        ) from err
    except OSError as err:
        if debug:
            raise
        if not is_file_error(err):  # e.g. a socket or process error: not the user's disk
            raise _internal(err) from err
        hint = _OS_HINTS.get(err.errno or 0, "check the path exists, is writable and has free space")
        raise UserError(f"{err.filename or 'an output file'}: {err.strerror or err}; {hint}.") from err
    except KeyboardInterrupt:
        raise Interrupted() from None
    except Exception as err:  # noqa: BLE001 - the last line of defence before a traceback
        if debug:
            raise
        raise _internal(err) from err


def stdout_reader_gone() -> bool:
    """True when standard output is a pipe or socket whose reading end has been closed."""
    import select
    import stat

    try:
        fd = sys.__stdout__.fileno() if sys.__stdout__ is not None else 1
        mode = os.fstat(fd).st_mode
        if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            return False
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (OSError, ValueError, AttributeError):
        return False


def _discard_stdout() -> None:
    """Point standard output at /dev/null so the flush at exit cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.__stdout__.fileno() if sys.__stdout__ is not None else 1)
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def is_file_error(err: OSError) -> bool:
    """True for an OS error of reading or writing files (names a path, or a filesystem errno).

    Only these get the "path exists, is writable, has free space" advice;
    connection errors (``ConnectionError`` is an ``OSError``) and other system
    errors without a path do not.
    """
    if isinstance(err, ConnectionError):
        return False
    return err.filename is not None or (err.errno or 0) in _FS_ERRNOS


class InternalError(click.ClickException):
    """An unexpected error, shown as one paragraph naming ``--debug`` (exit 70)."""

    exit_code = EXIT_INTERNAL


def _internal(err: BaseException) -> click.ClickException:
    logger.debug("internal error", exc_info=err)
    return InternalError(
        f"internal error ({type(err).__name__}): {err}\n"
        "This is a bug in alnm-ray or an unhandled input. Re-run with --debug for the "
        "traceback and report it."
    )
