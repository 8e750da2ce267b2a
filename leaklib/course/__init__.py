"""The course kit: the notebooks as graded assignments (nbgrader), for instructors.

- :mod:`~leaklib.course.exercises`: the graded exercises as data (implement-it and experiment);
- :mod:`~leaklib.course.checks`: the autograder's checks of implement-it answers against leaklib's own;
- :mod:`~leaklib.course.ranges`: experiment answers' ranges, measured by running the solutions over seeds;
- :mod:`~leaklib.course.plan`: what each course notebook runs (quick, smaller where quick is too long);
- :mod:`~leaklib.course.build`: ``leaklib course build`` and ``leaklib course grade`` (needs ``leaklib[course]``).
"""

from .exercises import EXERCISES, Exercise, exercises
from .plan import COURSE_PROFILES, course_settings

__all__ = ["COURSE_PROFILES", "EXERCISES", "Exercise", "course_settings", "exercises"]
