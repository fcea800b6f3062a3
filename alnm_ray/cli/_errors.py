"""Turning errors into one clear paragraph and a non-zero exit."""

from __future__ import annotations

import errno
import logging
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
#: OS error numbers of failed writes -> the fix.
_OS_HINTS: dict[int, str] = {
    errno.ENOSPC: "the disk is full: free space or write to another volume",
    errno.EDQUOT: "the disk quota is exhausted: free space or write to another volume",
    errno.EROFS: "the filesystem is read-only: write to a writable folder",
    errno.EIO: "the device reported an I/O error: check the disk or network mount",
}


class UserError(click.ClickException):
    """A ClickException whose text is already a complete, fixable message."""

    exit_code = EXIT_USER_ERROR

    def format_message(self) -> str:
        return self.message


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
    except OSError as err:  # disk full, quota, read-only filesystem… while writing an output
        if debug:
            raise
        hint = _OS_HINTS.get(err.errno or 0, "check the path exists, is writable and has free space")
        raise UserError(f"{err.filename or 'an output file'}: {err.strerror or err}; {hint}.") from err
    except KeyboardInterrupt:
        raise click.exceptions.Abort() from None
    except Exception as err:  # noqa: BLE001 - the last line of defence before a traceback
        if debug:
            raise
        logger.debug("internal error", exc_info=True)
        exc = click.ClickException(
            f"internal error ({type(err).__name__}): {err}\n"
            "This is a bug in alnm-ray or an unhandled input. Re-run with --debug for the "
            "traceback and report it."
        )
        exc.exit_code = EXIT_INTERNAL
        raise exc from err
