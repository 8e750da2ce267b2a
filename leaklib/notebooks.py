"""The notebook runner behind ``./run_all.sh``: execute ``notebooks/NN_name.ipynb`` with papermill.

Each notebook is run on a kernel of *this* interpreter (a kernel spec written to a private directory
and put first on ``JUPYTER_PATH``, so no globally installed kernel is needed or used). Executed copies go
to ``notebooks/executed/``; a notebook's checks land in ``figures/<name>/metrics.json`` (written by
:func:`leaklib.references.check_and_record`). Those are the default (quick) profile's folders; the smoke
and paper profiles use ``figures/<profile>/`` and ``notebooks/executed/<profile>/`` instead. A notebook whose executed copy finished without error and
whose ``metrics.json`` is newer than the notebook, with the same parameters, is skipped (resume) unless
``fresh``. One failing notebook does not stop the others; all failures are reported at the end, and the
gallery ``figures/README.md`` is rebuilt (:func:`leaklib.references.write_gallery`).

Parameters the runner fills in when a notebook's ``parameters`` cell declares them: ``profile``,
``device``, ``strict``, ``figures_dir`` and ``references_dir``; with ``update_references=True`` also
``update_references`` (which each selected notebook must then declare, and pass on to
:func:`leaklib.references.check_and_record` as ``update``).
"""

from __future__ import annotations

import ast
import contextlib
import json
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import LeaklibError, check_choice, unknown
from .references import NOT_REPRODUCED, PASS, write_gallery
from .runtime import DEVICES, resolve_device

PROFILES = ("smoke", "quick", "paper")
KERNEL_NAME = "python3"
CPU_CAPABILITIES = ("default", "avx2", "avx512")  # values of ATEN_CPU_CAPABILITY (torch's SIMD kernels)
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_(.+)\.ipynb$")


@dataclass
class NotebookRun:
    """What happened to one notebook: ``ran``, ``skipped`` (resumed) or ``failed``, and why."""

    name: str
    status: str
    seconds: float = 0.0
    error: str = ""
    failed_checks: list[str] = field(default_factory=list)


def find_notebooks(notebooks_dir: str | os.PathLike = "notebooks") -> list[Path]:
    """The numbered notebooks ``NN_name.ipynb`` of a folder, in order."""
    folder = Path(notebooks_dir)
    if not folder.is_dir():
        raise LeaklibError(f"notebook folder {str(folder)!r} does not exist")
    return sorted(p for p in folder.iterdir() if p.is_file() and NOTEBOOK_PATTERN.match(p.name))


def select_notebooks(notebooks: Sequence[Path], only: Sequence[str] | None) -> list[Path]:
    """Pick notebooks by number (``03`` or ``3``), full name (``03_trained``) or name (``trained``)."""
    if not only:
        return list(notebooks)
    chosen: list[Path] = []
    for token in only:
        token = str(token).strip().removesuffix(".ipynb")
        hits = []
        for nb in notebooks:
            number, name = NOTEBOOK_PATTERN.match(nb.name).groups()
            if token in (nb.stem, name) or (token.isdigit() and int(token) == int(number)):
                hits.append(nb)
        if not hits:
            raise unknown("notebook", token, [nb.stem for nb in notebooks] or ["(none found)"])
        chosen += [nb for nb in hits if nb not in chosen]
    return sorted(chosen)


# ---------------------------------------------------------------- parameters
def notebook_parameters(path: str | os.PathLike) -> dict[str, Any]:
    """Defaults of the notebook's ``parameters``-tagged cell, as Python values (via papermill's inspect).

    A default that is not a literal (e.g. computed) is returned as ``...`` (any value accepted).
    """
    import papermill

    try:
        declared = papermill.inspect_notebook(str(path))
    except Exception as e:  # papermill raises several types for unreadable notebooks
        raise LeaklibError(f"cannot read the parameters of {str(path)!r}: {e}") from None
    defaults: dict[str, Any] = {}
    for name, info in declared.items():
        try:
            defaults[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            defaults[name] = ...
    return defaults


def _type_ok(value: Any, default: Any) -> bool:
    if default is ... or default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(default, float):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if isinstance(default, (list, tuple)):
        return isinstance(value, (list, tuple))
    return isinstance(value, type(default))


def validate_parameters(path: Path, parameters: Mapping[str, Any]) -> None:
    """Raise unless every parameter is declared in the notebook's parameters cell with a matching type."""
    defaults = notebook_parameters(path)
    for name, value in parameters.items():
        if name not in defaults:
            valid = ", ".join(defaults) or "(none: the notebook has no parameters cell)"
            raise LeaklibError(f"notebook {path.stem} has no parameter {name!r}; its parameters: {valid}")
        if not _type_ok(value, defaults[name]):
            raise LeaklibError(
                f"parameter {name!r} of notebook {path.stem} must be a {type(defaults[name]).__name__} "
                f"like its default {defaults[name]!r}, got {value!r} ({type(value).__name__})"
            )


def parse_cli_value(text: str) -> Any:
    """A ``-p name value`` value: a Python literal if it parses (``5``, ``0.1``, ``[1, 2]``, ``True``),
    ``true``/``false`` as booleans, otherwise the string itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


# ---------------------------------------------------------------- kernel
@contextlib.contextmanager
def kernel_environment() -> Iterator[str]:
    """A ``python3`` kernel spec for this interpreter, first on ``JUPYTER_PATH`` while the block runs.

    Also lets the kernel use matplotlib's inline backend (so executed notebooks show their figures)
    when the caller set ``MPLBACKEND=Agg``.
    """
    try:
        import ipykernel  # noqa: F401
    except ImportError:
        raise LeaklibError(
            f"ipykernel is not installed for {sys.executable}; install it with: pip install ipykernel"
        ) from None
    saved = {k: os.environ.get(k) for k in ("JUPYTER_PATH", "MPLBACKEND")}
    with tempfile.TemporaryDirectory(prefix="leaklib-kernel-") as tmp:
        spec_dir = Path(tmp) / "kernels" / KERNEL_NAME
        spec_dir.mkdir(parents=True)
        spec = {
            "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
            "display_name": "Python 3 (leaklib)",
            "language": "python",
        }
        (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
        os.environ["JUPYTER_PATH"] = os.pathsep.join([tmp, *([saved["JUPYTER_PATH"]] if saved["JUPYTER_PATH"] else [])])
        if (saved["MPLBACKEND"] or "").lower() == "agg":
            os.environ.pop("MPLBACKEND")
        try:
            yield KERNEL_NAME
        finally:
            _restore_environment(saved)


def _restore_environment(saved: Mapping[str, str | None]) -> None:
    """Put environment variables back as ``saved`` (None: the variable was not set)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# ---------------------------------------------------------------- resume
def _failed_checks(metrics_path: Path) -> list[str]:
    rows = json.loads(metrics_path.read_text()).get("rows", [])
    return [f"{r.get('id')}: {r.get('claim')} (measured {r.get('measured')}, reference {r.get('reference')})"
            for r in rows if r.get("status") not in (PASS, NOT_REPRODUCED)]


def _up_to_date(notebook: Path, executed: Path, metrics: Path, parameters: Mapping[str, Any]) -> bool:
    """The executed copy finished cleanly with these parameters and both outputs are newer than the notebook."""
    if not (executed.is_file() and metrics.is_file()):
        return False
    source_time = notebook.stat().st_mtime
    if executed.stat().st_mtime <= source_time or metrics.stat().st_mtime <= source_time:
        return False
    try:
        meta = json.loads(executed.read_text()).get("metadata", {}).get("papermill", {})
    except (OSError, ValueError):
        return False
    finished = meta.get("end_time") is not None and not meta.get("exception")
    return finished and meta.get("parameters") == json.loads(json.dumps(dict(parameters)))


# ---------------------------------------------------------------- the runner
def profile_dir(root: str | os.PathLike, profile: str) -> Path:
    """Where a profile's figures (or executed copies) go under ``root``: the default profile (quick) writes
    ``root/`` itself, the others ``root/<profile>/``, so a smoke or paper run never overwrites the quick one."""
    check_choice("profile", profile, PROFILES)
    return Path(root) if profile == "quick" else Path(root) / profile


def run_notebooks(
    only: Sequence[str] | None = None,
    profile: str = "quick",
    device: str = "auto",
    fresh: bool = False,
    strict: bool = True,
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
    figures_dir: str | os.PathLike = "figures",
    references_dir: str | os.PathLike | None = None,
    executed_dir: str | os.PathLike | None = None,
    progress_bar: bool = True,
    update_references: bool = False,
    calibration_seeds: Sequence[int] = (),
) -> list[NotebookRun]:
    """Execute the selected notebooks in order, resuming finished ones; return what happened to each.

    ``parameters`` (user values, e.g. ``{"num_images": 4}``) must be declared in every selected notebook's
    parameters cell with a matching type; all are validated before anything runs. With ``strict``, a
    notebook whose ``metrics.json`` has a FAIL row counts as failed. ``update_references`` regenerates
    the stored reference values from this run (and always re-executes); ``calibration_seeds`` (with
    ``update_references``) then runs each notebook once more per extra seed, in a temporary folder, and
    sets the tolerances from the spread over all seeds (:func:`leaklib.references.calibrate_reference`).
    """
    import papermill

    check_choice("profile", profile, PROFILES)
    check_choice("device", device, DEVICES)
    resolve_device(device)  # "cuda" without a GPU fails here, before any notebook starts
    notebooks_dir = Path(notebooks_dir).resolve()
    figures_dir = profile_dir(Path(figures_dir).resolve(), profile)
    references_dir = Path(references_dir).resolve() if references_dir else notebooks_dir / "references"
    executed_dir = profile_dir(Path(executed_dir).resolve() if executed_dir else notebooks_dir / "executed", profile)
    selected = select_notebooks(find_notebooks(notebooks_dir), only)
    if not selected:
        raise LeaklibError(f"no notebooks named NN_name.ipynb in {str(notebooks_dir)!r}")
    user = dict(parameters or {})
    runner = {"profile": profile, "device": device, "strict": strict,
              "figures_dir": str(figures_dir), "references_dir": str(references_dir)}
    clash = sorted(set(user) & {*runner, "update_references"})
    if clash:
        raise LeaklibError(f"set {', '.join(clash)} with the runner's own options (--profile, --device, ...), not -p")

    if calibration_seeds and not update_references:
        raise LeaklibError("calibration_seeds recalibrate a reference: use them with update_references")
    plans = []
    for nb in selected:  # validate everything before the first (long) execution
        validate_parameters(nb, user)
        declared = notebook_parameters(nb)
        params = {k: v for k, v in runner.items() if k in declared} | user
        if update_references:
            if "update_references" not in declared:
                raise LeaklibError(f"notebook {nb.stem} cannot update its reference: its parameters cell "
                                   "declares no 'update_references'")
            params["update_references"] = True
        plans.append((nb, params))

    runs: list[NotebookRun] = []
    with kernel_environment() as kernel:
        for nb, params in plans:
            executed = executed_dir / nb.name
            metrics = figures_dir / nb.stem / "metrics.json"
            if not (fresh or update_references) and _up_to_date(nb, executed, metrics, params):
                failed = _failed_checks(metrics)
                if not (strict and failed):
                    print(f"[leaklib] {nb.stem}: up to date, skipped (use --fresh to recompute)")
                    runs.append(NotebookRun(nb.stem, "skipped", failed_checks=failed))
                    continue
            metrics.unlink(missing_ok=True)  # a failed run must not leave an older run's claims behind
            executed_dir.mkdir(parents=True, exist_ok=True)
            print(f"[leaklib] {nb.stem}: running (profile {profile}, device {device})")
            start = time.perf_counter()
            try:
                papermill.execute_notebook(
                    str(nb), str(executed), parameters=params, kernel_name=kernel,
                    cwd=str(nb.parent), progress_bar=progress_bar,
                )
            except Exception as e:  # a failing notebook is reported, the others still run
                error = f"{getattr(e, 'ename', type(e).__name__)}: {getattr(e, 'evalue', str(e))}".strip()
                failed = _failed_checks(metrics) if metrics.is_file() else []
                runs.append(NotebookRun(nb.stem, "failed", time.perf_counter() - start,
                                        error.splitlines()[0], failed))
                continue
            seconds = time.perf_counter() - start
            if not metrics.is_file():
                runs.append(NotebookRun(nb.stem, "failed", seconds, f"the notebook wrote no {metrics}"))
                continue
            failed = _failed_checks(metrics)
            if calibration_seeds:
                _calibrate(nb, params, kernel, metrics, references_dir, profile, calibration_seeds, progress_bar)
                failed = _failed_checks(metrics)
            if strict and failed:
                runs.append(NotebookRun(nb.stem, "failed", seconds, f"{len(failed)} checks failed", failed))
            else:
                runs.append(NotebookRun(nb.stem, "ran", seconds, failed_checks=failed))
    write_gallery(figures_dir)
    return runs


def _measure_aside(nb: Path, params: Mapping[str, Any], kernel: str, progress_bar: bool,
                   env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Run ``nb`` fresh and non-strict in a temporary folder (with ``env`` set for its kernel, e.g.
    ``ATEN_CPU_CAPABILITY``, which torch reads when the kernel starts); return its measured values."""
    import tempfile

    import papermill

    declared = notebook_parameters(nb)
    saved = {k: os.environ.get(k) for k in (env or {})}
    with tempfile.TemporaryDirectory(prefix=f"leaklib-{nb.stem}-") as tmp:
        tmp = Path(tmp)
        run = {**params, "strict": False, "fresh": True, "figures_dir": str(tmp / "figures"),
               "output_dir": str(tmp / "runs")}
        os.environ.update(env or {})
        try:
            papermill.execute_notebook(str(nb), str(tmp / nb.name), kernel_name=kernel, cwd=str(nb.parent),
                                       parameters={k: v for k, v in run.items() if k in declared},
                                       progress_bar=progress_bar)
        finally:
            _restore_environment(saved)
        return json.loads((tmp / "figures" / nb.stem / "metrics.json").read_text())["measured"]


def _calibrate(nb: Path, params: Mapping[str, Any], kernel: str, metrics: Path, references_dir: Path, profile: str,
               seeds: Sequence[int], progress_bar: bool) -> None:
    """Run ``nb`` once per extra seed (fresh, in a temporary folder), recalibrate its reference's tolerances
    from all seeds' values, and re-check the main run's values against it (rewriting its metrics.json)."""
    from .references import calibrate_reference, check, load_reference, write_metrics

    main = json.loads(metrics.read_text())
    main_seed = int(params.get("seed", 0))
    runs = {main_seed: main["measured"]}
    for seed in dict.fromkeys(int(s) for s in seeds if int(s) != main_seed):
        print(f"[leaklib] {nb.stem}: calibration run with seed {seed}")
        runs[seed] = _measure_aside(nb, {**params, "seed": seed, "update_references": False}, kernel, progress_bar)
    ref = calibrate_reference(nb.stem, profile, runs, ref_dir=references_dir)
    rows = check(main["measured"], load_reference(nb.stem, profile, references_dir))
    extra_fields = {k: v for k, v in main.items() if k not in ("notebook", "profile", "measured", "rows", "passed",
                                                               "failed", "not_reproduced", "written")}
    write_metrics(nb.stem, profile, main["measured"], rows, metrics.parent.parent, extra_fields)
    cal = ref["calibration"]
    print(f"[leaklib] {nb.stem}: tolerances calibrated over seeds {cal['seeds']}; claims held: {cal['claims_held']}")
    if cal["fragile_claims"]:
        print(f"[leaklib] {nb.stem}: WARNING claims that hold in some seeds only: {cal['fragile_claims']}")


def widen_for_cpus(
    only: Sequence[str] | None,
    cpus: Sequence[str],
    profile: str = "quick",
    device: str = "cpu",
    parameters: Mapping[str, Any] | None = None,
    *,
    notebooks_dir: str | os.PathLike = "notebooks",
    references_dir: str | os.PathLike | None = None,
    progress_bar: bool = True,
) -> None:
    """Run each selected notebook once per CPU kernel set (``ATEN_CPU_CAPABILITY``: ``default``, ``avx2``,
    ``avx512``), in a temporary folder, and widen its reference's tolerances to cover those runs
    (:func:`leaklib.references.widen_reference`): what another machine's float rounding moves."""
    from .references import widen_reference

    check_choice("profile", profile, PROFILES)
    for cpu in cpus:
        check_choice("CPU capability", cpu, CPU_CAPABILITIES)
    notebooks_dir = Path(notebooks_dir).resolve()
    references_dir = Path(references_dir).resolve() if references_dir else notebooks_dir / "references"
    selected = select_notebooks(find_notebooks(notebooks_dir), only)
    user = dict(parameters or {})
    for nb in selected:
        validate_parameters(nb, user)
    with kernel_environment() as kernel:
        for nb in selected:
            params = {"profile": profile, "device": device, "references_dir": str(references_dir), **user}
            runs = {}
            for cpu in cpus:
                print(f"[leaklib] {nb.stem}: run with ATEN_CPU_CAPABILITY={cpu}")
                runs[cpu] = _measure_aside(nb, params, kernel, progress_bar, {"ATEN_CPU_CAPABILITY": cpu})
            command = (f"leaklib notebooks --only {nb.stem} --profile {profile} --calibration-cpus {' '.join(cpus)}")
            ref = widen_reference(nb.stem, profile, runs, ref_dir=references_dir, command=command)
            other = ref["calibration"]["other_cpus"]
            print(f"[leaklib] {nb.stem}: tolerances cover {list(runs)}; claims held: {other['claims_held']}")


def summary(runs: Sequence[NotebookRun]) -> str:
    """A few lines: one per notebook, then the failures with their reasons."""
    lines = [f"  {r.name:<32} {r.status:<8} {r.seconds:7.1f} s"
             + (f"  ({len(r.failed_checks)} checks failed)" if r.failed_checks else "") for r in runs]
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        lines.append(f"{len(failed)} of {len(runs)} notebooks failed:")
        for r in failed:
            lines.append(f"  {r.name}: {r.error}")
            lines += [f"    {c}" for c in r.failed_checks]
    else:
        lines.append(f"all {len(runs)} notebooks passed")
    return "\n".join(lines)
