"""Errors a user can fix, and how the command line tells them from bugs (standard library only).

The command line prints a user-fixable error as one line and exits with status 2; anything else
is a bug and keeps its traceback.  User-fixable are :class:`UserError` (a busy or foreign run
folder, a dead worker pool), bad values (``ValueError``, ``KeyError``), missing or unusable paths,
and an environment that refuses the work (disk full, read-only file system, no permission).
"""

from __future__ import annotations

import errno

#: ``OSError`` numbers caused by the machine or the user's paths, not by the program.
ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOENT,
                                errno.ENOTDIR, errno.EISDIR, errno.EEXIST, errno.ENAMETOOLONG, errno.EMFILE})
#: Of those, the ones after which no later output can be written either: a run stops at once.
FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
_USER_TYPES = (ValueError, KeyError, FileNotFoundError, NotADirectoryError, PermissionError, IsADirectoryError)


class UserError(Exception):
    """An error the user can fix; the command line prints its message on one line (exit status 2)."""


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is user-fixable (see the module docstring).

    Examples
    --------
    >>> is_user_error(OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.json"))
    True
    >>> is_user_error(RuntimeError("a bug"))
    False
    """
    return (isinstance(exc, (UserError, *_USER_TYPES))
            or isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS)


def is_fatal(exc: BaseException) -> bool:
    """Whether ``exc`` (disk full, quota exceeded, read-only file system) makes every later write fail."""
    return isinstance(exc, OSError) and exc.errno in FATAL_ERRNOS


def one_line(exc: BaseException) -> str:
    """The message of ``exc`` on one line (a ``KeyError`` without its quotes, an ``OSError`` with its path).

    Examples
    --------
    >>> one_line(OSError(errno.ENOSPC, "No space left on device", "runs/x/metrics.json"))
    'No space left on device: runs/x/metrics.json'
    >>> one_line(KeyError("unknown dataset 'mnist'"))
    "unknown dataset 'mnist'"
    """
    if isinstance(exc, KeyError) and exc.args:
        message = str(exc.args[0])
    elif isinstance(exc, OSError) and exc.strerror and exc.filename:
        message = f"{exc.strerror}: {exc.filename}"
    else:
        message = str(exc) or type(exc).__name__
    return " ".join(message.split())
