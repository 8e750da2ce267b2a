"""What every notebook shares: its settings, device and folders at the top, the check of its claims at the end.

A notebook's parameters cell (papermill) defines ``profile``, ``device``, ``seed``, ``data_root``, the folders,
``strict``, ``update_references``, ``fresh`` and one variable per knob of its profile (None = the profile's
value). :func:`notebook_context` reads them from the notebook's globals, so a notebook starts with
``ctx = notebook_context(NOTEBOOK, globals())`` and ends with ``ctx.check(measured)``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .errors import LeaklibError
from .profiles import paper_needs, settings, trial_dir
from .references import Row, assert_passed, check_and_record
from .runtime import resolve_device

PARAMETERS = ("profile", "device", "seed", "data_root", "output_dir", "figures_dir", "references_dir", "strict",
              "update_references", "fresh")


@dataclass(frozen=True)
class NotebookContext:
    """A notebook's resolved settings (``cfg``: the profile's knobs with the overrides) and where it writes."""

    notebook: str
    profile: str
    seed: int
    device: str  # resolved: "cpu" or "cuda"
    cfg: dict[str, Any]
    data_root: str | None
    output_dir: str  # resumable trial records of this (profile, seed, device)
    fig_dir: str  # this notebook's figures
    figures_dir: str
    references_dir: str
    fresh: bool
    strict: bool
    update_references: bool

    def seeds(self, base: Sequence[int]) -> list[int]:
        """The profile's batch and attack seeds moved by the notebook seed (seed 0 keeps them)."""
        return [1000 * self.seed + int(s) for s in base]

    def check(self, measured: Mapping[str, Any]) -> list[Row]:
        """Check ``measured`` against the stored reference and claims, record it, raise on a FAIL if strict."""
        rows = check_and_record(self.notebook, self.profile, measured, ref_dir=self.references_dir,
                                figures_dir=self.figures_dir, update=self.update_references, seed=self.seed,
                                device=self.device)
        return assert_passed(rows, strict=self.strict)


def notebook_context(notebook: str, parameters: Mapping[str, Any]) -> NotebookContext:
    """The context of ``notebook`` from its parameters (the notebook's ``globals()`` after papermill's cell)."""
    missing = [p for p in PARAMETERS if p not in parameters]
    if missing:
        raise LeaklibError(f"notebook {notebook} lacks parameter(s) {missing} in its parameters cell")
    profile = parameters["profile"]
    knobs = {k: parameters.get(k) for k in settings(notebook, profile)}
    cfg = settings(notebook, profile, **knobs)
    if profile == "paper":
        print("paper profile needs:", paper_needs(notebook))
    device = str(resolve_device(parameters["device"]))
    seed = int(parameters["seed"])
    figures_dir = str(parameters["figures_dir"])
    return NotebookContext(
        notebook=notebook, profile=profile, seed=seed, device=device, cfg=cfg, data_root=parameters["data_root"],
        output_dir=str(trial_dir(notebook, profile, seed, device, parameters["output_dir"])),
        fig_dir=f"{figures_dir}/{notebook}", figures_dir=figures_dir, references_dir=str(parameters["references_dir"]),
        fresh=bool(parameters["fresh"]), strict=bool(parameters["strict"]),
        update_references=bool(parameters["update_references"]))
