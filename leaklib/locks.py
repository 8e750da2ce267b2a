"""Exclusive locks on output folders, so that two runs never write into the same folder at once.

:func:`hold_lock` takes ``fcntl.flock`` on ``<folder>/.leaklib.lock`` and writes who holds it (pid, host,
command, start time) into that file. The operating system releases the lock when the holder exits, also
when it is killed, so a crashed run never leaves a stale lock behind; the file itself stays (removing it
would let two runs lock two different files) and is emptied on release. A second run on the same folder
fails at once with a :class:`~leaklib.errors.LeaklibError` saying who holds it; it never waits.

Within one process the lock is re-entrant for the thread that holds it (a sweep inside an attack on the
same folder works); another thread of the same process is refused like another process. Locks on
different folders are independent. ``fcntl`` exists on Linux and macOS only: on Windows (and on file
systems without ``flock``) :func:`hold_lock` warns that the folder is not protected and runs unlocked.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import LeaklibError
from .io import ensure_writable_dir

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

LOCK_NAME = ".leaklib.lock"

_held: dict[str, tuple[int, int, int]] = {}  # resolved folder -> (pid, thread id, depth) of this process
_held_guard = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def lock_path(folder: str | os.PathLike) -> Path:
    """The lock file of ``folder``: ``<folder>/.leaklib.lock``."""
    return Path(folder) / LOCK_NAME


def lock_holder(folder: str | os.PathLike) -> dict[str, Any] | None:
    """What the lock file of ``folder`` says about its holder, or None (no file, empty or unreadable).

    Only the holder's own word: whether the lock is held right now is what :func:`hold_lock` finds out.
    """
    try:
        text = lock_path(folder).read_text(encoding="utf-8")
        info = json.loads(text) if text.strip() else None
    except (OSError, ValueError):
        return None
    return info if isinstance(info, dict) else None


def _describe(info: dict[str, Any] | None) -> str:
    if not info:
        return "a run that has just started (it has not written its name yet)"
    since = str(info.get("started", "?"))
    age = ""
    if isinstance(info.get("started_unix"), (int, float)):
        minutes = max(0.0, time.time() - info["started_unix"]) / 60
        age = f", {minutes:.0f} min ago" if minutes >= 1 else ", under a minute ago"
    return (f"{info.get('what', 'a leaklib run')} (pid {info.get('pid', '?')} on {info.get('host', '?')}, "
            f"command {info.get('command', '?')!r}, since {since}{age})")


@contextmanager
def hold_lock(folder: str | os.PathLike, what: str) -> Iterator[Path]:
    """Hold the exclusive lock on ``folder`` (created if missing) for the ``with`` block; yield the folder.

    ``what`` names the run in the lock file and in the error others get (e.g. ``"leaklib attack"``).
    Raises :class:`LeaklibError` at once, naming the holder's pid, command and start time, if another
    process (or another thread of this one) holds the folder. The lock is released when the block ends,
    on an exception, or when the process dies.
    """
    folder = ensure_writable_dir(folder)
    key = os.path.realpath(folder)
    me = (os.getpid(), threading.get_ident())
    with _held_guard:
        mine = _held.get(key)
        if mine is not None and mine[0] == me[0]:
            if mine[1] != me[1]:
                raise LeaklibError(
                    f"output folder {str(folder)!r} is in use by another thread of this process "
                    f"({_describe(lock_holder(folder))}); give each run its own folder"
                )
            _held[key] = (*me, mine[2] + 1)  # re-entered by the holding thread
            reentered = True
        else:
            reentered = False
    if reentered:
        try:
            yield folder
        finally:
            with _held_guard:
                pid, tid, depth = _held[key]
                _held[key] = (pid, tid, depth - 1)
        return

    fd = _acquire(folder, what)
    with _held_guard:
        _held[key] = (*me, 1)
    try:
        yield folder
    finally:
        with _held_guard:
            _held.pop(key, None)
        if fd is not None:
            _release(fd)


def _acquire(folder: Path, what: str) -> int | None:
    """Lock ``folder``'s lock file and write this process's details into it; the open descriptor."""
    path = lock_path(folder)
    if fcntl is None:
        warnings.warn(f"cannot lock {str(folder)!r}: folder locks need fcntl (Linux, macOS), not available on "
                      f"{sys.platform}; make sure no other run writes into this folder", stacklevel=4)
        return None
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no O_TRUNC: the holder's details stay readable
    except OSError as e:
        raise LeaklibError(f"cannot create the lock file {str(path)!r}: {e.strerror}; "
                           "is the folder writable?") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise LeaklibError(
            f"output folder {str(folder)!r} is in use by {_describe(lock_holder(folder))}; wait for that run "
            "to finish (or stop it) or choose another folder. The lock goes away by itself when that process "
            f"ends; do not delete {LOCK_NAME}"
        ) from None
    except OSError as e:  # e.g. a network file system without flock
        os.close(fd)
        warnings.warn(f"cannot lock {str(folder)!r} ({e.strerror}); make sure no other run writes into it",
                      stacklevel=4)
        return None
    now = time.time()
    info = {"what": what, "pid": os.getpid(), "host": socket.gethostname(), "command": shlex.join(sys.argv),
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)), "started_unix": round(now, 3)}
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info) + "\n").encode(), 0)
    return fd


def _release(fd: int) -> None:
    try:
        os.ftruncate(fd, 0)  # the details of a finished run would only mislead
    except OSError:
        pass
    finally:
        os.close(fd)  # closing the last descriptor releases the flock


def locked_command(what: str, folder_arg: str = "out") -> Callable[[F], F]:
    """Decorator for a command's ``run(args)``: hold the lock on ``args.<folder_arg>`` while it runs."""

    def decorate(run: F) -> F:
        @functools.wraps(run)
        def wrapper(args: Any, *rest: Any, **kwargs: Any) -> Any:
            with hold_lock(getattr(args, folder_arg), what):
                return run(args, *rest, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate
