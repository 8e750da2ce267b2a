"""``leaklib course build``: the instructor version, the student release and the autograder's configuration,
with nbgrader (the Jupyter standard for graded notebooks); ``leaklib course grade``: nbgrader's autograde of
a submitted notebook, with its score table.

The course directory is nbgrader's layout: ``source/<notebook>/`` holds the instructor version (the finding
notebook, its parameters set for the course, its graded exercises with solutions and hidden tests, its
stored reference), ``release/<notebook>/`` the student version that ``nbgrader generate_assignment`` makes
from it (solutions replaced by stubs, hidden tests removed), ``nbgrader_config.py`` the configuration and
``gradebook.db`` the grades. Each notebook is one assignment.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from ..errors import LeaklibError
from .exercises import Exercise, exercises
from .plan import base_profile, course_notebooks, course_overrides
from .ranges import RANGES_PATH, answer_range

SOLUTION_STUB = "# YOUR CODE HERE\npass"  # a stub that runs: the untouched release executes to its end
CELL_TIMEOUT_S = 1800  # nbgrader's default is 30 s per cell; a sweep cell of the quick profile takes minutes
CONFIG = f'''c = get_config()  # noqa: F821 (nbgrader's configuration of a leaklib course, written by leaklib course build)
c.CourseDirectory.root = "."
c.ClearSolutions.code_stub = {{"python": {SOLUTION_STUB!r}}}
c.Execute.timeout = {CELL_TIMEOUT_S}
c.Execute.allow_errors = True  # a wrong answer costs its marks, not the rest of the notebook
'''


def _nbgrader():
    try:
        from nbgrader.apps import NbGraderAPI
        from nbgrader.coursedir import CourseDirectory
    except ImportError:
        raise LeaklibError("the course kit needs nbgrader: pip install 'leaklib[course]' (or pip install nbgrader)") \
            from None
    return NbGraderAPI, CourseDirectory


@contextmanager
def _scripts_on_path() -> Iterator[None]:
    """This interpreter's scripts first on PATH: nbgrader runs its database migrations with the ``alembic``
    command, found on PATH, which a virtual environment used without activation does not have."""
    saved = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), saved])
    try:
        yield
    finally:
        os.environ["PATH"] = saved


def _api(course: Path):
    from traitlets.config import Config

    NbGraderAPI, CourseDirectory = _nbgrader()
    config = Config()
    config.CourseDirectory.root = str(course)
    config.ClearSolutions.code_stub = {"python": SOLUTION_STUB}
    config.Execute.timeout = CELL_TIMEOUT_S
    config.Execute.allow_errors = True
    return NbGraderAPI(CourseDirectory(config=config), config=config)


def _meta(grade_id: str, *, solution: bool = False, grade: bool = False, points: int = 0) -> dict[str, Any]:
    meta = {"schema_version": 3, "grade_id": grade_id, "solution": solution, "grade": grade, "locked": not solution,
            "task": False}
    if grade:
        meta["points"] = points
    return {"nbgrader": meta}


def _points(n: int) -> str:
    return f"{n} point{'s' if n != 1 else ''}"


def _solution_source(exercise: Exercise) -> str:
    if exercise.kind == "implement":
        return exercise.solution
    code = "\n".join(exercise.solution.splitlines())
    return (f"{exercise.answer} = None  # store the number you measured here\n"
            f"### BEGIN SOLUTION\n{code}\n### END SOLUTION")


def _test_source(exercise: Exercise, profile: str, ranges_path: Path) -> str:
    if exercise.kind == "implement":
        return (f"# autograder: your function against leaklib's on random inputs ({_points(exercise.points)})\n"
                f"from leaklib.course import checks\n\n"
                f"### BEGIN HIDDEN TESTS\nchecks.{exercise.check}({_function_name(exercise)})\n### END HIDDEN TESTS")
    low, high = answer_range(exercise, profile, ranges_path)
    return (f"# autograder: your number against the range measured by running the solution over seeds "
            f"({_points(exercise.points)})\n"
            f"assert isinstance({exercise.answer}, (int, float)), 'store a number in {exercise.answer}'\n"
            f"### BEGIN HIDDEN TESTS\n"
            f"assert {low!r} <= {exercise.answer} <= {high!r}, f'{{{exercise.answer}}} is outside the measured range'\n"
            f"### END HIDDEN TESTS")


def _function_name(exercise: Exercise) -> str:
    line = next(s for s in exercise.solution.splitlines() if s.startswith("def "))
    return line[4:line.index("(")]


def _parameters_source(source: str, values: dict[str, Any]) -> str:
    """The parameters cell with ``name = value`` lines replaced (every name must be in the cell)."""
    lines, seen = source.splitlines(), set()
    for i, line in enumerate(lines):
        name = line.split("=")[0].strip()
        if "=" in line and name in values:
            lines[i] = f"{name} = {values[name]!r}"
            seen.add(name)
    missing = set(values) - seen
    if missing:
        raise LeaklibError(f"the parameters cell has no line for {sorted(missing)}")
    return "\n".join(lines)


def instructor_notebook(path: Path, profile: str, ranges_path: Path = RANGES_PATH) -> nbformat.NotebookNode:
    """The finding notebook at ``path`` with the course's parameters and graded exercises (solutions in)."""
    notebook = path.stem
    nb = nbformat.read(path, as_version=4)
    params = next((c for c in nb.cells if "parameters" in c.metadata.get("tags", [])), None)
    if params is None:
        raise LeaklibError(f"{path} has no cell tagged 'parameters'")
    params.source = _parameters_source(params.source, {
        "profile": base_profile(profile), "strict": False, "figures_dir": "figures", "references_dir": "references",
        **course_overrides(notebook, profile)})
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.startswith("## Exercises"):
            cell.source = cell.source.replace("## Exercises", "## Further questions (not graded)", 1)
    graded = exercises(notebook)
    if graded:
        total = sum(e.points for e in graded)
        nb.cells.append(nbformat.v4.new_markdown_cell(
            f"## Graded exercises ({_points(total)})\nWrite your code between the marked lines; each exercise's "
            "test cell is graded by the autograder (hidden tests).", metadata=_meta(f"{notebook}-intro")))
    for e in graded:
        nb.cells.append(nbformat.v4.new_markdown_cell(f"### {e.id} ({e.kind}, {_points(e.points)})\n{e.task.strip()}",
                                                      metadata=_meta(f"{e.id}-task")))
        nb.cells.append(nbformat.v4.new_code_cell(_solution_source(e), metadata=_meta(e.id, solution=True)))
        nb.cells.append(nbformat.v4.new_code_cell(_test_source(e, profile, ranges_path),
                                                  metadata=_meta(f"{e.id}-test", grade=True, points=e.points)))
    return nb


@dataclass(frozen=True)
class CourseBuild:
    """Where ``build_course`` wrote the course: nbgrader's root, the instructor and the student folders."""

    root: Path
    assignments: list[str]

    @property
    def source(self) -> Path:
        return self.root / "source"

    @property
    def release(self) -> Path:
        return self.root / "release"


def build_course(out: str | os.PathLike, *, profile: str = "course", only: Sequence[str] | None = None,
                 notebooks_dir: str | os.PathLike = "notebooks", ranges_path: str | os.PathLike = RANGES_PATH
                 ) -> CourseBuild:
    """Write the instructor versions to ``out/source/``, let nbgrader generate the student release in
    ``out/release/``, and write ``out/nbgrader_config.py``. ``only``: notebook names (default: all nine)."""
    _nbgrader()
    root, notebooks_dir = Path(out).resolve(), Path(notebooks_dir)
    names = list(only) if only else course_notebooks()
    unknown = sorted(set(names) - set(course_notebooks()))
    if unknown:
        raise LeaklibError(f"unknown notebook(s) {unknown}; valid: {', '.join(course_notebooks())}")
    root.mkdir(parents=True, exist_ok=True)
    (root / "nbgrader_config.py").write_text(CONFIG)
    api = _api(root)
    for name in names:
        src = notebooks_dir / f"{name}.ipynb"
        if not src.exists():
            raise LeaklibError(f"no notebook {src}: run from the repository root or give notebooks_dir")
        folder = root / "source" / name
        if folder.exists():
            shutil.rmtree(folder)
        (folder / "references").mkdir(parents=True)
        nbformat.write(instructor_notebook(src, profile, Path(ranges_path)), folder / f"{name}.ipynb")
        ref = notebooks_dir / "references" / f"{name}.{base_profile(profile)}.json"
        if ref.exists():
            shutil.copy2(ref, folder / "references" / ref.name)
        with _scripts_on_path():
            result = api.generate_assignment(name, force=True, create=True)
        if not result.get("success"):
            raise LeaklibError(f"nbgrader generate_assignment {name} failed:\n{result.get('log', '')[-2000:]}")
    return CourseBuild(root, names)


def grade(course: str | os.PathLike, submission: str | os.PathLike, *, student: str = "student",
          assignment: str | None = None) -> list[dict[str, Any]]:
    """Autograde ``submission`` (a notebook) with nbgrader as ``student``; return one row per graded cell
    (``exercise``, ``score``, ``max_score``). ``assignment`` defaults to the notebook's file name."""
    from ..notebooks import kernel_environment

    root, submission = Path(course).resolve(), Path(submission)
    name = assignment or submission.stem
    release = root / "release" / name
    if not release.is_dir():
        raise LeaklibError(f"no assignment {name!r} in {root / 'release'}: build the course first "
                           f"(leaklib course build --out {root})")
    if not submission.is_file():
        raise LeaklibError(f"no submitted notebook {submission}")
    folder = root / "submitted" / student / name
    if folder.exists():
        shutil.rmtree(folder)
    shutil.copytree(release, folder)  # the assignment's other files (its reference) beside the notebook
    shutil.copy2(submission, folder / f"{name}.ipynb")
    with kernel_environment(), _scripts_on_path():  # nbgrader's python3 kernel is this interpreter
        result = _api(root).autograde(name, student, force=True, create=True)
        if not result.get("success"):
            raise LeaklibError(f"nbgrader autograde of {submission} failed:\n{result.get('log', '')[-3000:]}")
        from nbgrader.api import Gradebook

        with Gradebook(f"sqlite:///{root / 'gradebook.db'}") as gb:
            notebook = gb.find_submission_notebook(name, name, student)
            return [{"exercise": g.name.removesuffix("-test"), "score": float(g.score),
                     "max_score": float(g.max_score)} for g in sorted(notebook.grades, key=lambda g: g.name)]


def score_table(rows: list[dict[str, Any]]) -> str:
    """The grade rows as a markdown table with the total."""
    lines = ["| exercise | score | max |", "|---|---|---|"]
    lines += [f"| {r['exercise']} | {r['score']:g} | {r['max_score']:g} |" for r in rows]
    lines.append(f"| **total** | **{sum(r['score'] for r in rows):g}** | **{sum(r['max_score'] for r in rows):g}** |")
    return "\n".join(lines)
