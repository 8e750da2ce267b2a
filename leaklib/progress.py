"""Progress of long runs, readable from outside a notebook kernel.

A notebook's output goes into its executed copy, not the terminal. So the runner gives the kernel a file
(``LEAKLIB_PROGRESS``) and :func:`leaklib.runs.run_sweep` appends one JSON line per finished trial to it;
:class:`ProgressWatcher`, in the runner, prints each new line as ``attacks 3/12, 2m10s, ~6m left``.
Without the variable (a plain Python session) nothing is written.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

ENV = "LEAKLIB_PROGRESS"


def report_trial(desc: str, done: int, total: int, computed: int, elapsed: float) -> None:
    """Append one event: ``done`` of ``total`` trials finished, ``computed`` of them run (not resumed) in
    ``elapsed`` seconds since the sweep began."""
    path = os.environ.get(ENV)
    if not path:
        return
    event = {"desc": desc, "done": done, "total": total, "computed": computed, "elapsed": round(elapsed, 1)}
    with open(path, "a", encoding="utf-8") as f:  # one short line per write: appends do not interleave
        f.write(json.dumps(event) + "\n")


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def describe(event: dict[str, Any]) -> str:
    """``attacks 3/12, 2m10s elapsed, ~6m30s left`` (the estimate uses the trials computed so far)."""
    done, total, computed, elapsed = event["done"], event["total"], event["computed"], event["elapsed"]
    text = f"{event['desc']} {done}/{total}, {_duration(elapsed)} elapsed"
    if done < total and computed:
        text += f", ~{_duration(elapsed / computed * (total - done))} left"
    if done > computed:
        text += f" ({done - computed} resumed)"
    return text


class ProgressWatcher:
    """Follow a progress file in a background thread and pass each event, described, to ``emit``."""

    def __init__(self, path: str | os.PathLike, emit: Callable[[str], None], interval: float = 1.0) -> None:
        self.path, self.emit, self.interval = Path(path), emit, interval
        self._stop = threading.Event()
        self._offset = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProgressWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._poll()  # the last events

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self._poll()

    def _poll(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                f.seek(self._offset)
                chunk = f.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind("\n") + 1]  # a line still being written waits for the next poll
        self._offset += len(complete.encode("utf-8"))
        for line in complete.splitlines():
            try:
                self.emit(describe(json.loads(line)))
            except (ValueError, KeyError, TypeError):
                continue
