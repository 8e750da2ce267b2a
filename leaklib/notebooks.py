"""The notebook runner behind ``./run_all.sh``: execute ``notebooks/NN_name.ipynb`` with papermill.

Each notebook is run on a kernel of *this* interpreter (a kernel spec written to a private directory
and put first on ``JUPYTER_PATH``, so no globally installed kernel is needed or used). Executed copies go
to ``notebooks/executed/``; a notebook's checks land in ``figures/<name>/metrics.json`` (written by
:func:`leaklib.references.check_and_record`). Those are the default (quick) profile's folders; the smoke
and paper profiles use ``figures/<profile>/`` and ``notebooks/executed/<profile>/`` instead.

A notebook writes into a staging folder that replaces ``figures/<name>/`` only once it has measured
everything, so a crash or a typo never removes a finished result. A notebook is skipped (resumed) while
its :func:`fingerprint` (its source, its reference, leaklib's code, the parameters, the thread count, the
versions) equals the one stored beside its executed copy, unless ``fresh``. Trials report their progress
to the terminal (:mod:`leaklib.progress`). One failing notebook does not stop the others; a table closes
the run (:func:`summary`) and the gallery ``figures/README.md`` is rebuilt. The figures folder is locked
while the runner works on it (:func:`leaklib.locks.hold_lock`).

Parameters the runner fills in when a notebook's ``parameters`` cell declares them: ``profile``,
``device``, ``strict``, ``figures_dir`` and ``references_dir``; with ``update_references=True`` also
``update_references`` (which each selected notebook must then declare, and pass on to
:func:`leaklib.references.check_and_record` as ``update``).
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import progress
from .errors import SEED_LIMIT, LeaklibError, check_choice, check_positive, check_seed, unknown
from .io import ensure_writable_dir, write_json
from .profiles import PROFILE_NAMES, type_ok
from .references import NOT_REPRODUCED, PASS, ClaimsFailed, gallery_problems, unreadable_metrics_line, write_gallery
from .runtime import DEVICES, MAX_THREADS, resolve_device

KERNEL_NAME = "python3"
CPU_CAPABILITIES = ("default", "avx2", "avx512")  # values of ATEN_CPU_CAPABILITY (torch's SIMD kernels)
NOTEBOOK_PATTERN = re.compile(r"^(\d\d)_(.+)\.ipynb$")
NOTEBOOK_SEED_LIMIT = SEED_LIMIT // 1000  # a notebook's trial seeds are 1000 * seed + k
DEFAULT_THREADS = 2  # the stored references were measured with 2 threads; another count gives other numbers


@dataclass
class NotebookRun:
    """What happened to one notebook: ``ran``, ``skipped`` (resumed) or ``failed``, and why."""

    name: str
    status: str
    seconds: float = 0.0
    error: str = ""
    failed_checks: list[str] = field(default_factory=list)
    counts: dict[str, int] | None = None  # PASS / NOT REPRODUCED / FAIL rows of its metrics.json


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


# ---------------------------------------------------------------- data
def _leaves(value: Any) -> Iterator[Any]:
    if isinstance(value, (list, tuple)):
        for v in value:
            yield from _leaves(v)
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _leaves(v)
    else:
        yield value


def notebook_datasets(notebook: Path, profile: str) -> set[str]:
    """The datasets a notebook uses under ``profile``: dataset names among the profile's knob values and in
    the notebook's code cells (a static, conservative reading: a name in the code counts for every profile)."""
    from .data.registry import DATASETS
    from .profiles import PROFILES as KNOBS

    names = {v for v in _leaves(KNOBS.get(notebook.stem, {}).get(profile, {})) if isinstance(v, str) and v in DATASETS}
    return names | code_datasets(notebook)


def code_datasets(notebook: Path) -> set[str]:
    """Dataset names written as string literals in a notebook's code cells."""
    from .data.registry import DATASETS

    cells = json.loads(Path(notebook).read_text()).get("cells", [])
    code = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
    return {m for m in re.findall(r"[\"']([a-z0-9-]+)[\"']", code) if m in DATASETS}


def data_needs(profiles: Sequence[str], notebooks_dir: str | os.PathLike = "notebooks") -> dict[str, list[str]]:
    """dataset -> the notebooks that use it under any of ``profiles``."""
    needs: dict[str, list[str]] = {}
    for profile in profiles:
        check_choice("profile", profile, PROFILE_NAMES)
        for nb in find_notebooks(notebooks_dir):
            for name in sorted(notebook_datasets(nb, profile)):
                users = needs.setdefault(name, [])
                if nb.stem not in users:
                    users.append(nb.stem)
    return dict(sorted(needs.items()))


def missing_data(profiles: Sequence[str], notebooks_dir: str | os.PathLike = "notebooks",
                 root: str | os.PathLike | None = None) -> list[tuple[str, str | None, list[str]]]:
    """(dataset, the Debian package that provides it or None, the notebooks that need it) for every dataset
    that ``profiles`` need and that cannot be loaded now (nothing is downloaded)."""
    from .data import dataset_info
    from .data.registry import DEBIAN_PACKAGES

    return [(name, DEBIAN_PACKAGES.get(name), users) for name, users in data_needs(profiles, notebooks_dir).items()
            if not dataset_info(name, root).available]


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


def validate_parameters(path: Path, parameters: Mapping[str, Any]) -> None:
    """Raise unless every parameter is declared in the notebook's parameters cell with a matching type."""
    defaults = notebook_parameters(path)
    for name, value in parameters.items():
        if name not in defaults:
            valid = ", ".join(defaults) or "(none: the notebook has no parameters cell)"
            raise LeaklibError(f"notebook {path.stem} has no parameter {name!r}; its parameters: {valid}")
        if not type_ok(value, defaults[name]):
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


def _kernel_manager_class() -> type:
    """A kernel manager whose kernels talk over local sockets (IPC) instead of TCP, so nothing listens on
    the network (and ipykernel has nothing to warn about); plain TCP on Windows, which has no IPC transport."""
    from jupyter_client.manager import KernelManager
    from traitlets import CaselessStrEnum

    if os.name == "nt":
        return KernelManager

    class LocalKernelManager(KernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return LocalKernelManager


def _restore_environment(saved: Mapping[str, str | None]) -> None:
    """Put environment variables back as ``saved`` (None: the variable was not set)."""
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


# ---------------------------------------------------------------- resume
def _metrics_counts(metrics_path: Path) -> dict[str, int] | None:
    """PASS / NOT REPRODUCED / FAIL counts of a metrics.json, or None when it is missing or unreadable."""
    try:
        rows = json.loads(metrics_path.read_text()).get("rows", [])
    except (OSError, ValueError, AttributeError):
        return None
    statuses = [r.get("status") for r in rows if isinstance(r, dict)]
    return {"pass": statuses.count(PASS), "not_reproduced": statuses.count(NOT_REPRODUCED),
            "fail": len(statuses) - statuses.count(PASS) - statuses.count(NOT_REPRODUCED)}


def _failed_checks(metrics_path: Path) -> list[str]:
    rows = json.loads(metrics_path.read_text()).get("rows", [])
    return [f"{r.get('id')}: {r.get('claim')} (measured {r.get('measured')}, reference {r.get('reference')})"
            for r in rows if r.get("status") not in (PASS, NOT_REPRODUCED)]


def _library_digest() -> str:
    """sha256 over leaklib's own source files: a change to the library makes every result out of date."""
    digest = hashlib.sha256()
    package = Path(__file__).resolve().parent
    for path in sorted(package.rglob("*.py")):
        digest.update(str(path.relative_to(package)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprint(notebook: Path, reference: Path, parameters: Mapping[str, Any], threads: int) -> dict[str, Any]:
    """Everything a notebook's result depends on: its source, its stored reference, the library's code,
    the parameters, the thread count and the versions. The result is up to date only while all match."""
    import numpy
    import torch

    from . import __version__

    def sha(path: Path) -> str | None:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None

    return {"notebook": sha(notebook), "reference": sha(reference), "leaklib_code": _library_digest(),
            "parameters": json.loads(json.dumps({k: v for k, v in parameters.items() if k != "fresh"},
                                                sort_keys=True)),
            "threads": threads,
            "versions": {"leaklib": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
                         "python": sys.version.split()[0]}}


def _stamp_path(executed: Path) -> Path:
    return executed.with_name(executed.stem + ".stamp.json")


def _up_to_date(executed: Path, metrics: Path, stamp: Mapping[str, Any]) -> bool:
    """The executed copy finished cleanly, metrics.json reads, and the stored stamp equals ``stamp``."""
    if not (executed.is_file() and _metrics_counts(metrics) is not None):
        return False
    try:
        meta = json.loads(executed.read_text()).get("metadata", {}).get("papermill", {})
        stored = json.loads(_stamp_path(executed).read_text())
    except (OSError, ValueError, AttributeError):
        return False
    return meta.get("end_time") is not None and not meta.get("exception") and stored == stamp


def _replace_folder(new: Path, old: Path) -> None:
    """Put the folder ``new`` where ``old`` is, removing ``old`` only once ``new`` is in place."""
    trash = old.with_name(f".{old.name}.replaced")
    shutil.rmtree(trash, ignore_errors=True)
    if old.exists():
        old.rename(trash)
    new.rename(old)
    shutil.rmtree(trash, ignore_errors=True)


def _error_line(e: BaseException) -> str:
    """One line: the cell that failed and the error (papermill's error carries both)."""
    name = getattr(e, "ename", None) or type(e).__name__
    value = str(getattr(e, "evalue", None) or e).strip().splitlines()
    where = f"cell {e.cell_index + 1}: " if isinstance(getattr(e, "cell_index", None), int) else ""
    return f"{where}{name}: {value[0] if value else ''}".strip()


@contextlib.contextmanager
def _kernel_settings(threads: int, progress_file: Path) -> Iterator[None]:
    """Environment the kernel starts with: a fixed thread count (results depend on it), the progress file."""
    values = {"OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads), progress.ENV: str(progress_file)}
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        _restore_environment(saved)


# ---------------------------------------------------------------- the runner
def profile_dir(root: str | os.PathLike, profile: str) -> Path:
    """Where a profile's figures (or executed copies) go under ``root``: the default profile (quick) writes
    ``root/`` itself, the others ``root/<profile>/``, so a smoke or paper run never overwrites the quick one."""
    check_choice("profile", profile, PROFILE_NAMES)
    return Path(root) if profile == "quick" else Path(root) / profile


def _say(text: str) -> None:
    from tqdm import tqdm

    tqdm.write(f"[leaklib] {text}")  # keeps papermill's cell bar intact


def _plan(selected: Sequence[Path], user: Mapping[str, Any], runner: Mapping[str, Any], profile: str,
          fresh: bool, update_references: bool) -> list[tuple[Path, dict[str, Any]]]:
    """Each notebook with the parameters it will get; every check happens here, before anything is touched."""
    from .profiles import PROFILES as KNOBS
    from .profiles import settings

    if "seed" in user:  # notebooks derive trial seeds as 1000 * seed + k, which must stay in numpy's range
        check_seed("seed", user["seed"], limit=NOTEBOOK_SEED_LIMIT)
    plans = []
    for nb in selected:
        validate_parameters(nb, user)
        if nb.stem in KNOBS:  # knobs declared None in the notebook: typed by the profile's values
            knobs = KNOBS[nb.stem].get(profile, {})
            settings(nb.stem, profile, **{k: v for k, v in user.items() if k in knobs})
        declared = notebook_parameters(nb)
        params = {k: v for k, v in runner.items() if k in declared} | dict(user)
        if fresh and "fresh" in declared:
            params["fresh"] = True  # recompute the trials too, not only the notebook
        if update_references:
            if "update_references" not in declared:
                raise LeaklibError(f"notebook {nb.stem} cannot update its reference: its parameters cell "
                                   "declares no 'update_references'")
            params["update_references"] = True
        plans.append((nb, params))
    return plans


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
    threads: int = DEFAULT_THREADS,
) -> list[NotebookRun]:
    """Execute the selected notebooks in order, resuming up-to-date ones; return what happened to each.

    ``parameters`` (user values, e.g. ``{"num_images": 4}``) must be declared in every selected notebook's
    parameters cell with a matching type; all are validated before anything runs or is removed. A notebook
    writes into a staging folder that replaces its figures only when it ran to the end (a crash keeps the
    previous results). With ``strict``, a FAIL row counts as failed. ``fresh`` recomputes the notebooks and
    their trial records. ``threads`` fixes the kernel's thread count (the same seed gives other numbers with
    another count). ``update_references`` and ``calibration_seeds``: see :func:`_calibrate`.
    """
    from .locks import hold_lock

    check_choice("profile", profile, PROFILE_NAMES)
    check_choice("device", device, DEVICES)
    check_positive("threads", threads, maximum=MAX_THREADS)
    notebooks_dir = Path(notebooks_dir).resolve()
    if profile == "paper":  # hours of GPU time: everything missing is listed before any of it starts
        from .preflight import paper_estimate

        chosen = _paper_ready(only, device, parameters, notebooks_dir)
        if resolve_device(device).type == "cuda":  # on a CPU the warm-up alone would take long
            _say(paper_estimate(chosen, device, (parameters or {}).get("data_root"), parameters))
    resolve_device(device)  # "cuda" without a GPU fails here, before any notebook starts
    figures_dir = profile_dir(Path(figures_dir).resolve(), profile)
    references_dir = Path(references_dir).resolve() if references_dir else notebooks_dir / "references"
    executed_dir = profile_dir(Path(executed_dir).resolve() if executed_dir else notebooks_dir / "executed", profile)
    selected = select_notebooks(find_notebooks(notebooks_dir), only)
    if not selected:
        raise LeaklibError(f"no notebooks named NN_name.ipynb in {str(notebooks_dir)!r}")
    user = dict(parameters or {})
    runner = {"profile": profile, "device": device, "strict": strict,
              "figures_dir": str(figures_dir), "references_dir": str(references_dir)}
    clash = sorted(set(user) & {*runner, "update_references", "fresh"})
    if clash:
        raise LeaklibError(f"set {', '.join(clash)} with the runner's own options (--profile, --device, --fresh, "
                           "...), not -p")
    if calibration_seeds and not update_references:
        raise LeaklibError("calibration_seeds recalibrate a reference: use them with update_references")
    plans = _plan(selected, user, runner, profile, fresh, update_references)
    ensure_writable_dir(figures_dir)  # fail now, not after hours of work
    where = _Folders(figures_dir, executed_dir, references_dir)
    how = _Options(profile, device, threads, strict, fresh, update_references, tuple(calibration_seeds), progress_bar)
    with hold_lock(figures_dir, "leaklib notebooks"), kernel_environment() as kernel, \
            tempfile.TemporaryDirectory(prefix="leaklib-progress-") as progress_dir:
        ensure_writable_dir(executed_dir)
        runs = [_run_one(nb, params, where, how, kernel, Path(progress_dir) / f"{nb.stem}.jsonl")
                for nb, params in plans]
        shutil.rmtree(where.staging, ignore_errors=True)
        write_gallery(figures_dir)
    for notebook, why in gallery_problems(figures_dir):
        _say(unreadable_metrics_line(notebook, why))
    return runs


def _paper_ready(only: Sequence[str] | None, device: str, parameters: Mapping[str, Any] | None,
                 notebooks_dir: Path) -> list[Path]:
    """The selected notebooks, once the paper preflight found nothing missing (else one error listing it all)."""
    from .preflight import paper_preflight, preflight_message

    chosen = select_notebooks(find_notebooks(notebooks_dir), only)
    missing = paper_preflight(chosen, device, (parameters or {}).get("data_root"), parameters)
    if missing:
        raise LeaklibError(preflight_message(missing))
    return chosen


def paper_preflight_report(only: Sequence[str] | None, profile: str = "paper", device: str = "auto",
                           parameters: Mapping[str, Any] | None = None, *,
                           notebooks_dir: str | os.PathLike = "notebooks") -> str:
    """``leaklib notebooks --profile paper --preflight``: what is missing (an error), else the warm-up estimate;
    no notebook runs."""
    from .preflight import paper_estimate

    if profile != "paper":
        raise LeaklibError(f"--preflight checks the paper profile; got --profile {profile}")
    chosen = _paper_ready(only, device, parameters, Path(notebooks_dir).resolve())
    return "the paper preflight found nothing missing\n" + paper_estimate(
        chosen, device, (parameters or {}).get("data_root"), parameters)


@dataclass(frozen=True)
class _Folders:
    figures: Path
    executed: Path
    references: Path

    @property
    def staging(self) -> Path:  # a notebook writes here; its folder replaces figures/<name> on success
        return self.figures / ".staging"


@dataclass(frozen=True)
class _Options:
    profile: str
    device: str
    threads: int
    strict: bool
    fresh: bool
    update_references: bool
    calibration_seeds: tuple[int, ...]
    progress_bar: bool


def _run_one(nb: Path, params: dict[str, Any], where: _Folders, how: _Options, kernel: str,
             progress_file: Path) -> NotebookRun:
    """Run one notebook (or skip it when up to date) and say what happened."""
    import papermill

    executed, final = where.executed / nb.name, where.figures / nb.stem
    reference = where.references / f"{nb.stem}.{how.profile}.json"
    if not (how.fresh or how.update_references) and _up_to_date(
            executed, final / "metrics.json", fingerprint(nb, reference, params, how.threads)):
        failed = _failed_checks(final / "metrics.json")
        if not (how.strict and failed):
            _say(f"{nb.stem}: up to date, skipped (use --fresh to recompute)")
            return NotebookRun(nb.stem, "skipped", failed_checks=failed, counts=_metrics_counts(final / "metrics.json"))
    staged = where.staging / nb.stem
    shutil.rmtree(staged, ignore_errors=True)
    _stamp_path(executed).unlink(missing_ok=True)
    _say(f"{nb.stem}: running (profile {how.profile}, device {how.device}, {how.threads} threads)")
    start = time.perf_counter()
    error = None
    try:
        with _kernel_settings(how.threads, progress_file), \
                progress.ProgressWatcher(progress_file, lambda text: _say(f"{nb.stem}: {text}")):
            papermill.execute_notebook(
                str(nb), str(executed), parameters={**params, "figures_dir": str(where.staging)},
                kernel_name=kernel, cwd=str(nb.parent), progress_bar=how.progress_bar,
                kernel_manager_class=_kernel_manager_class(),
            )
    except Exception as e:  # a failing notebook is reported, the others still run
        error = e
    seconds = time.perf_counter() - start
    measured = (staged / "metrics.json").is_file()
    if measured and (error is None or getattr(error, "ename", "") == ClaimsFailed.__name__):
        _replace_folder(staged, final)  # a complete measurement (passing or not) replaces the old one
    elif final.exists():
        _say(f"{nb.stem}: the previous figures in {final} are kept")
    shutil.rmtree(staged, ignore_errors=True)
    if not measured:
        why = _error_line(error) if error is not None else f"the notebook wrote no {final / 'metrics.json'}"
        return NotebookRun(nb.stem, "failed", seconds, why)
    if error is not None:
        return NotebookRun(nb.stem, "failed", seconds, _error_line(error), _failed_checks(final / "metrics.json"),
                           _metrics_counts(final / "metrics.json"))
    if how.calibration_seeds:
        with _kernel_settings(how.threads, progress_file):
            _calibrate(nb, params, kernel, final / "metrics.json", where.references, how.profile,
                       how.calibration_seeds, how.progress_bar, how.fresh)
    failed, counts = _failed_checks(final / "metrics.json"), _metrics_counts(final / "metrics.json")
    if how.strict and failed:
        return NotebookRun(nb.stem, "failed", seconds, f"{len(failed)} checks failed", failed, counts)
    write_json(_stamp_path(executed), fingerprint(nb, reference, params, how.threads))  # the reference may be new
    return NotebookRun(nb.stem, "ran", seconds, failed_checks=failed, counts=counts)


def _measure_aside(nb: Path, params: Mapping[str, Any], kernel: str, progress_bar: bool,
                   env: Mapping[str, str] | None = None, resume: bool = False) -> dict[str, Any]:
    """Run ``nb`` non-strict with its figures in a temporary folder (with ``env`` set for its kernel, e.g.
    ``ATEN_CPU_CAPABILITY``, which torch reads when the kernel starts); return its measured values.
    Its trials are recomputed in that folder too, unless ``resume``: then they resume from the seed's own
    trial folder (``runs/<notebook>/<profile>/seed<N>-<device>``), so a killed calibration loses nothing."""
    import tempfile

    import papermill

    declared = notebook_parameters(nb)
    saved = {k: os.environ.get(k) for k in (env or {})}
    with tempfile.TemporaryDirectory(prefix=f"leaklib-{nb.stem}-") as tmp:
        tmp = Path(tmp)
        trials = {} if resume else {"fresh": True, "output_dir": str(tmp / "runs")}
        run = {**params, "strict": False, "figures_dir": str(tmp / "figures"), **trials}
        os.environ.update(env or {})
        try:
            papermill.execute_notebook(str(nb), str(tmp / nb.name), kernel_name=kernel, cwd=str(nb.parent),
                                       parameters={k: v for k, v in run.items() if k in declared},
                                       progress_bar=progress_bar, kernel_manager_class=_kernel_manager_class())
        finally:
            _restore_environment(saved)
        return json.loads((tmp / "figures" / nb.stem / "metrics.json").read_text())["measured"]


def _calibrate(nb: Path, params: Mapping[str, Any], kernel: str, metrics: Path, references_dir: Path, profile: str,
               seeds: Sequence[int], progress_bar: bool, fresh: bool) -> None:
    """Run ``nb`` once per extra seed (its trials resumed from that seed's trial folder unless ``fresh``),
    recalibrate its reference's tolerances from all seeds' values, and re-check the main run's values against
    it (rewriting its metrics.json)."""
    from .references import calibrate_reference, check, load_reference, write_metrics

    main = json.loads(metrics.read_text())
    main_seed = int(params.get("seed", 0))
    runs = {main_seed: main["measured"]}
    for seed in dict.fromkeys(int(s) for s in seeds if int(s) != main_seed):
        print(f"[leaklib] {nb.stem}: calibration run with seed {seed}")
        runs[seed] = _measure_aside(nb, {**params, "seed": seed, "update_references": False, "fresh": fresh},
                                    kernel, progress_bar, resume=True)
    ref = calibrate_reference(nb.stem, profile, runs, ref_dir=references_dir)
    rows = check(main["measured"], load_reference(nb.stem, profile, references_dir))
    extra_fields = {k: v for k, v in main.items() if k not in ("notebook", "profile", "measured", "rows", "passed",
                                                               "failed", "not_reproduced", "written")}
    from .references import seeds_held, widest_tolerance

    extra_fields.update(seeds_held=seeds_held(ref), widest_tolerance=widest_tolerance(ref))
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

    check_choice("profile", profile, PROFILE_NAMES)
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
                env = {"ATEN_CPU_CAPABILITY": cpu, "OMP_NUM_THREADS": str(DEFAULT_THREADS),
                       "MKL_NUM_THREADS": str(DEFAULT_THREADS)}
                runs[cpu] = _measure_aside(nb, params, kernel, progress_bar, env)
            command = (f"leaklib notebooks --only {nb.stem} --profile {profile} --calibration-cpus {' '.join(cpus)}")
            ref = widen_reference(nb.stem, profile, runs, ref_dir=references_dir, command=command)
            other = ref["calibration"]["other_cpus"]
            print(f"[leaklib] {nb.stem}: tolerances cover {list(runs)}; claims held: {other['claims_held']}")


def summary(runs: Sequence[NotebookRun], figures_dir: str | os.PathLike | None = None) -> str:
    """The closing table: notebook, status, seconds, PASS / NOT REPRODUCED / FAIL rows; where the figures
    and the gallery are; then each failure in one line with its failed checks."""
    head = f"  {'notebook':<32} {'status':<8} {'seconds':>8} {'PASS':>5} {'NOT REPR.':>9} {'FAIL':>5}"
    lines = [head, "  " + "-" * (len(head) - 2)]
    for r in runs:
        c = r.counts or {}
        lines.append(f"  {r.name:<32} {r.status:<8} {r.seconds:8.1f} {c.get('pass', '-'):>5} "
                     f"{c.get('not_reproduced', '-'):>9} {c.get('fail', '-'):>5}")
    lines.append(f"  {'total':<32} {'':<8} {sum(r.seconds for r in runs):8.1f}")
    if figures_dir is not None:
        lines.append(f"figures: {Path(figures_dir)}/<notebook>/   gallery: {Path(figures_dir) / 'README.md'}")
    failed = [r for r in runs if r.status == "failed"]
    if failed:
        lines.append(f"{len(failed)} of {len(runs)} notebooks failed:")
        for r in failed:
            lines.append(f"  {r.name}: {r.error}")
            lines += [f"    {c}" for c in r.failed_checks]
    else:
        lines.append(f"all {len(runs)} notebooks passed")
    return "\n".join(lines)
