"""``leaklib course``: build the graded course (instructor version, student release, autograder), calibrate
the experiments' answer ranges, grade a submission. Needs the ``course`` extra (nbgrader)."""

from __future__ import annotations

import argparse


def _names(only: list[str] | None) -> list[str] | None:
    if not only:
        return None
    from ..notebooks import find_notebooks, select_notebooks

    return [p.stem for p in select_notebooks(find_notebooks(), only)]


def _build(args: argparse.Namespace) -> int:
    from ..course.build import build_course

    course = build_course(args.out, profile=args.profile, only=_names(args.only))
    print(f"instructor version: {course.source}\nstudent release:    {course.release}\n"
          f"autograder config:  {course.root / 'nbgrader_config.py'}\n"
          f"grade a submission: leaklib course grade --course {course.root} SUBMITTED.ipynb --student NAME")
    return 0


def _calibrate(args: argparse.Namespace) -> int:
    from ..course.ranges import RANGES_PATH, calibrate

    calibrate(args.profile, _names(args.only), device=args.device)
    print(f"ranges written to {RANGES_PATH}")
    return 0


def _grade(args: argparse.Namespace) -> int:
    from ..course.build import grade, score_table

    print(score_table(grade(args.course, args.submission, student=args.student, assignment=args.assignment)))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    from ..course.plan import COURSE_PROFILES

    p = subparsers.add_parser("course", help="the notebooks as graded assignments (nbgrader)",
                              description=__doc__)
    sub = p.add_subparsers(dest="course_command", metavar="ACTION", required=True)
    b = sub.add_parser("build", help="write the instructor version, the student release and the autograder config")
    b.add_argument("--out", required=True, help="the course directory, e.g. course/")
    b.add_argument("--profile", choices=COURSE_PROFILES, default="course",
                   help="course: the quick profile, smaller where it takes over 10 min (default); smoke: seconds")
    b.add_argument("--only", action="append", metavar="N", help="a notebook number or name (repeatable)")
    b.set_defaults(func=_build)
    c = sub.add_parser("calibrate", help="measure the experiment exercises' answer ranges over seeds 0-3")
    c.add_argument("--profile", choices=COURSE_PROFILES, default="course")
    c.add_argument("--only", action="append", metavar="N", help="a notebook number or name (repeatable)")
    c.add_argument("--device", default="cpu")
    c.set_defaults(func=_calibrate)
    g = sub.add_parser("grade", help="autograde a submitted notebook and print its score table")
    g.add_argument("submission", help="the submitted notebook (its name names the assignment)")
    g.add_argument("--course", required=True, help="the course directory made by leaklib course build")
    g.add_argument("--student", default="student", help="the student's id in the gradebook (default student)")
    g.add_argument("--assignment", help="the assignment (default: the notebook's file name)")
    g.set_defaults(func=_grade)
