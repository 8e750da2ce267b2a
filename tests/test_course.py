"""The course kit (issue #18): exercises graded against leaklib, a release without solutions, nbgrader's grades."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
import torch

from leaklib.course import EXERCISES, checks, exercises
from leaklib.course.plan import course_notebooks, course_settings
from leaklib.course.ranges import accepted_range, answer_range, calibrate, load_ranges, measure
from leaklib.errors import LeaklibError

ROOT = Path(__file__).resolve().parents[1]


def _function(exercise):
    namespace: dict = {}
    exec(exercise.solution, namespace)
    return next(v for k, v in namespace.items() if callable(v) and not k.startswith("__"))


def _exercise(exercise_id):
    return next(e for e in EXERCISES if e.id == exercise_id)


def test_every_notebook_has_an_experiment_and_every_exercise_is_well_formed():
    assert {e.notebook for e in EXERCISES if e.kind == "experiment"} == set(course_notebooks())
    assert len({e.id for e in EXERCISES}) == len(EXERCISES)
    for e in EXERCISES:
        if e.kind == "implement":
            assert hasattr(checks, e.check), e.id
            assert "### BEGIN SOLUTION" in e.solution and "### END SOLUTION" in e.solution
        else:
            assert re.search(rf"^{e.answer} = ", e.solution, re.M), f"{e.id} never sets {e.answer}"


@pytest.mark.parametrize("exercise", [e for e in EXERCISES if e.kind == "implement"], ids=lambda e: e.id)
def test_the_solution_passes_its_check(exercise):
    getattr(checks, exercise.check)(_function(exercise))


WRONG = {  # plausible mistakes, each must lose its marks
    "cosine_distance": lambda g, t: (g - t).square().sum(),  # DLG's Euclidean distance
    "total_variation": lambda x: (x[..., 1:, :] - x[..., :-1, :]).abs().sum() + (x[..., :, 1:] - x[..., :, :-1]).abs().sum(),
    "geng_counts": lambda dW, p, O, K: K * p - dW.sum(1) / O,  # forgot the K of the second term
    "idlg_label": lambda dW: int(dW.sum(1).argmax()),
    "pseudo_gradient": lambda update, lr, steps: {k: -u / lr for k, u in update.items()},  # forgot the steps
    "linear_input": lambda dW, db: dW[int(db.abs().argmax())],  # forgot to divide by db_i
    "several_updates": lambda gs, ts: 1 - torch.nn.functional.cosine_similarity(torch.cat(gs), torch.cat(ts), dim=0),
    "align": lambda recon, true, rl, tl: list(range(len(true))),
    "bar": lambda recon, true: [True] * len(true),
}


@pytest.mark.parametrize("exercise_id", sorted(WRONG))
def test_a_wrong_implementation_fails_its_check(exercise_id):
    with pytest.raises(AssertionError):
        getattr(checks, _exercise(exercise_id).check)(WRONG[exercise_id])


def test_accepted_range_is_the_spread_with_a_floor():
    assert accepted_range([1.0, 2.0, 3.0]) == (0.0, 4.0)
    lo, hi = accepted_range([0.5, 0.5])
    assert lo < 0.5 < hi and hi - lo == pytest.approx(0.1)


def test_course_profile_shrinks_only_what_it_names():
    from leaklib.course.plan import COURSE_OVERRIDES
    from leaklib.profiles import settings

    for notebook in course_notebooks():
        quick, course = settings(notebook, "quick"), course_settings(notebook, "course")
        assert {k for k in quick if quick[k] != course[k]} == set(COURSE_OVERRIDES.get(notebook, {}))
    assert course_settings("02_same_class_fusion", "smoke") == settings("02_same_class_fusion", "smoke")
    with pytest.raises(LeaklibError, match="course profile"):
        course_settings("02_same_class_fusion", "paper")


def test_every_experiment_has_a_course_range_measured_by_its_own_solution_over_four_seeds():
    stored = load_ranges()["course"]
    for e in (e for e in EXERCISES if e.kind == "experiment"):
        entry = stored[e.id]
        assert entry["seeds"] == [0, 1, 2, 3] and len(entry["values"]) == 4
        assert (entry["low"], entry["high"]) == accepted_range(entry["values"]) == answer_range(e, "course")


def test_a_range_measured_with_another_solution_is_refused(tmp_path):
    from dataclasses import replace

    from leaklib.io import write_json

    e = _exercise("fusion_8")
    path = tmp_path / "ranges.json"
    write_json(path, {"course": {e.id: load_ranges()["course"][e.id]}})
    assert answer_range(e, "course", path)
    with pytest.raises(LeaklibError, match="solution changed"):
        answer_range(replace(e, solution=e.solution + "\nanswer_fusion_8 += 1\n"), "course", path)
    with pytest.raises(LeaklibError, match="no measured range.*leaklib course calibrate"):
        answer_range(_exercise("bar_16"), "course", path)


def test_measure_refuses_an_implement_exercise():
    with pytest.raises(LeaklibError, match="only experiments"):
        measure(_exercise("cosine_distance"), "smoke", 0)


# ---------------------------------------------------------------- build and grade with nbgrader (smoke profile)

NOTEBOOK = "03_trained_vs_untrained"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    pytest.importorskip("nbgrader")
    from leaklib.course.build import build_course

    tmp = tmp_path_factory.mktemp("course")
    ranges = tmp / "ranges.json"
    calibrate("smoke", [NOTEBOOK], seeds=(0, 1), path=ranges, progress=False)
    return build_course(tmp / "course", profile="smoke", only=[NOTEBOOK], notebooks_dir=ROOT / "notebooks",
                        ranges_path=ranges)


def _grades(course, notebook_path, student):
    from leaklib.course.build import grade

    return {r["exercise"]: (r["score"], r["max_score"]) for r in grade(course.root, notebook_path, student=student)}


@pytest.mark.slow
@pytest.mark.notebook
def test_release_holds_no_solution_and_no_hidden_test(course):
    release = nbformat.read(course.release / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4)
    text = "\n".join(c.source for c in release.cells)
    original = "\n".join(c.source for c in nbformat.read(ROOT / "notebooks" / f"{NOTEBOOK}.ipynb", as_version=4).cells)
    assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text
    for e in exercises(NOTEBOOK):
        body = e.solution.split("### BEGIN SOLUTION")[-1].split("### END SOLUTION")[0]
        for line in (s.strip() for s in body.splitlines()):
            if len(line) > 12 and line not in original:  # lines the notebook itself has (imports) may stay
                assert line not in text, f"solution line of {e.id} in the release: {line}"
    assert (course.release / NOTEBOOK / "references").is_dir()


@pytest.mark.slow
@pytest.mark.notebook
def test_instructor_version_gets_full_marks_and_untouched_release_zero(course, tmp_path):
    full = _grades(course, course.source / NOTEBOOK / f"{NOTEBOOK}.ipynb", "instructor")
    assert full and all(score == top for score, top in full.values()), full
    untouched = _grades(course, course.release / NOTEBOOK / f"{NOTEBOOK}.ipynb", "untouched")
    assert set(untouched) == set(full) and all(score == 0 for score, _ in untouched.values()), untouched
    executed = nbformat.read(course.root / "autograded" / "untouched" / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4)
    assert all(c.execution_count for c in executed.cells if c.cell_type == "code")  # ran to its end


@pytest.mark.slow
@pytest.mark.notebook
def test_euclidean_instead_of_cosine_loses_its_marks(course, tmp_path):
    nb = nbformat.read(course.source / NOTEBOOK / f"{NOTEBOOK}.ipynb", as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == "cosine_distance")
    cell.source = "def cosine_distance(g, t):\n    return (g - t).square().sum()"
    wrong = tmp_path / f"{NOTEBOOK}.ipynb"
    nbformat.write(nb, wrong)
    grades = _grades(course, wrong, "euclid")
    assert grades["cosine_distance"][0] == 0
    assert all(score == top for name, (score, top) in grades.items() if name != "cosine_distance")
