"""The set-up files agree with each other and the set-up script fails clearly on bad options."""

import re
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[]", requirement.strip(), maxsplit=1)[0].lower()


def test_pyproject_and_environment_yml_name_the_same_packages():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r) for r in project["dependencies"]}
    for extra in project["optional-dependencies"].values():
        wanted |= {_name(r) for r in extra}
    listed = set()
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("dependencies:", 1)[1].splitlines():
        m = re.match(r"^\s*-\s+([A-Za-z0-9_.\-]+)", line)
        if m and m.group(1) not in ("pip", "python"):
            listed.add(_name(m.group(1)))
    assert wanted == listed


def test_run_all_rejects_unknown_options_before_any_setup():
    out = subprocess.run([str(ROOT / "run_all.sh"), "--bogus"], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode != 0
    assert "unknown option '--bogus'" in out.stderr and "--tests" in out.stderr


def test_ci_runs_the_readme_test_command():
    assert "./run_all.sh --tests" in (ROOT / ".ci" / "run").read_text()
    assert "./run_all.sh --tests" in (ROOT / "README.md").read_text()
