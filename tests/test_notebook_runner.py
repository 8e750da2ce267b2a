"""The notebook runner on throwaway notebooks written by the test (selection, parameters, resume, failures)."""

import json
import os

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from leaklib.cli import main
from leaklib.errors import LeaklibError
from leaklib.notebooks import (
    find_notebooks,
    notebook_parameters,
    parse_cli_value,
    run_notebooks,
    select_notebooks,
    summary,
    validate_parameters,
)
from leaklib.references import write_reference

PARAMS = 'profile = "quick"\nstrict = True\nfigures_dir = "../figures"\nreferences_dir = "references"\n' \
         'update_references = False\nnum = 3\nscale = 0.5\nlabel = "x"\nfail = False\n'

BODY = """
from pathlib import Path
import matplotlib.pyplot as plt
from leaklib.io import save_figure
from leaklib.references import assert_passed, check_and_record

if fail:
    raise RuntimeError("this notebook was told to fail")
measured = {"total": num * scale}
fig, ax = plt.subplots()
ax.plot([0, num])
save_figure(fig, Path(figures_dir) / NAME / "line.png")
rows = check_and_record(NAME, profile, measured, ref_dir=references_dir, figures_dir=figures_dir,
                        update=update_references)
assert_passed(rows, strict=strict)
"""


def write_notebook(folder, stem, fail=False):
    params = PARAMS.replace("fail = False", f"fail = {fail}")
    nb = new_notebook(
        cells=[new_code_cell(params, metadata={"tags": ["parameters"]}),
               new_code_cell(f"NAME = {stem!r}\n" + BODY)],
        metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    )
    path = folder / f"{stem}.ipynb"
    nbformat.write(nb, path)
    return path


@pytest.fixture
def project(tmp_path):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    write_notebook(nbdir, "01_good")
    write_notebook(nbdir, "02_bad", fail=True)
    (nbdir / "notes.ipynb").write_text("{}")  # not numbered: ignored
    for stem in ("01_good", "02_bad"):
        write_reference(
            stem, "quick", {"total": 1.5}, tolerances={"total": 0.01}, ref_dir=nbdir / "references",
            claims=[{"id": "positive", "text": "the total is above one", "check": "total > 1"}],
        )
    return tmp_path


def test_selection_by_number_and_name(project):
    nbs = find_notebooks(project / "notebooks")
    assert [p.stem for p in nbs] == ["01_good", "02_bad"]
    assert [p.stem for p in select_notebooks(nbs, ["02"])] == ["02_bad"]
    assert [p.stem for p in select_notebooks(nbs, ["2", "good"])] == ["01_good", "02_bad"]
    assert [p.stem for p in select_notebooks(nbs, ["01_good.ipynb"])] == ["01_good"]
    with pytest.raises(LeaklibError, match="unknown notebook '07'; valid notebooks: 01_good, 02_bad"):
        select_notebooks(nbs, ["07"])


def test_parameter_validation(project):
    nb = project / "notebooks" / "01_good.ipynb"
    assert notebook_parameters(nb)["num"] == 3 and notebook_parameters(nb)["scale"] == 0.5
    validate_parameters(nb, {"num": 4, "scale": 1, "label": "y", "fail": True})  # int is fine for a float
    with pytest.raises(LeaklibError, match="no parameter 'nmu'; its parameters: profile, strict"):
        validate_parameters(nb, {"nmu": 4})
    with pytest.raises(LeaklibError, match="'num' .* must be a int"):
        validate_parameters(nb, {"num": "four"})
    with pytest.raises(LeaklibError, match="must be a bool"):
        validate_parameters(nb, {"fail": 1})
    with pytest.raises(LeaklibError, match="must be a int"):
        validate_parameters(nb, {"num": 2.5})
    assert parse_cli_value("4") == 4 and parse_cli_value("0.1") == 0.1 and parse_cli_value("true") is True
    assert parse_cli_value("resnet20") == "resnet20" and parse_cli_value("[1, 2]") == [1, 2]


def test_bad_requests_fail_before_running(project, capsys):
    kw = {"notebooks_dir": project / "notebooks", "figures_dir": project / "figures"}
    with pytest.raises(LeaklibError, match="unknown profile"):
        run_notebooks(profile="huge", **kw)
    with pytest.raises(LeaklibError, match="not -p"):
        run_notebooks(parameters={"profile": "paper"}, **kw)
    with pytest.raises(LeaklibError, match="no parameter 'steps'"):
        run_notebooks(parameters={"steps": 3}, **kw)
    with pytest.raises(LeaklibError, match="not -p"):
        run_notebooks(parameters={"update_references": True}, **kw)
    write_notebook(project / "notebooks", "03_plain")
    plain = project / "notebooks" / "03_plain.ipynb"
    nb = nbformat.read(plain, as_version=4)
    nb.cells[0].source = nb.cells[0].source.replace("update_references = False\n", "")
    nbformat.write(nb, plain)
    with pytest.raises(LeaklibError, match="03_plain cannot update its reference"):
        run_notebooks(update_references=True, **kw)
    rc = main(["notebooks", "--notebooks-dir", str(project / "notebooks"), "--only", "9"])
    assert rc == 2 and "valid notebooks: 01_good, 02_bad" in capsys.readouterr().err
    rc = main(["notebooks", "--notebooks-dir", str(project / "notebooks"), "-p", "num", "x"])
    assert rc == 2 and "must be a int" in capsys.readouterr().err
    rc = main(["notebooks", "--notebooks-dir", str(project / "notebooks"), "--calibration-cpus", "sse9"])
    assert rc == 2 and "unknown CPU capability 'sse9'" in capsys.readouterr().err
    assert not (project / "notebooks" / "executed").exists()  # nothing ran


def run_kw(project, monkeypatch):
    # the runner must bring its own kernel spec and must restore the caller's environment
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("JUPYTER_PATH", str(project / "no-kernels-here"))
    return {"notebooks_dir": project / "notebooks", "figures_dir": project / "figures", "progress_bar": False}


@pytest.mark.notebook
def test_run_resume_and_failures(project, monkeypatch):
    kw = run_kw(project, monkeypatch)
    nbdir, figs = project / "notebooks", project / "figures"
    runs = run_notebooks(**kw)
    assert [(r.name, r.status) for r in runs] == [("01_good", "ran"), ("02_bad", "failed")]
    assert "RuntimeError" in runs[1].error and "told to fail" in runs[1].error
    assert "1 of 2 notebooks failed" in summary(runs)
    assert (nbdir / "executed" / "01_good.ipynb").is_file() and (nbdir / "executed" / "02_bad.ipynb").is_file()
    metrics = json.loads((figs / "01_good" / "metrics.json").read_text())
    assert metrics["passed"] == 2 and metrics["measured"] == {"total": 1.5}
    assert not (figs / "02_bad" / "metrics.json").exists()
    gallery = (figs / "README.md").read_text()
    assert "](01_good/line.png)" in gallery and "2/2 checks passed" in gallery
    assert os.environ["MPLBACKEND"] == "Agg" and os.environ["JUPYTER_PATH"].endswith("no-kernels-here")

    executed_time = (nbdir / "executed" / "01_good.ipynb").stat().st_mtime
    runs = run_notebooks(**kw)  # resume: 01 skipped, 02 tried again
    assert [(r.name, r.status) for r in runs] == [("01_good", "skipped"), ("02_bad", "failed")]
    assert (nbdir / "executed" / "01_good.ipynb").stat().st_mtime == executed_time


@pytest.mark.notebook
def test_parameters_strictness_and_fresh(project, monkeypatch):
    kw = run_kw(project, monkeypatch)
    nbdir, figs = project / "notebooks", project / "figures"
    # num=4: the measured total (2.0) drifts out of the stored tolerance -> the notebook fails (strict)
    runs = run_notebooks(only=["1"], parameters={"num": 4}, **kw)
    assert runs[0].status == "failed" and "ClaimsFailed" in runs[0].error
    assert runs[0].failed_checks and "total" in runs[0].failed_checks[0]
    assert json.loads((figs / "01_good" / "metrics.json").read_text())["failed"] == 1
    runs = run_notebooks(only=["1"], parameters={"num": 4}, strict=False, **kw)
    assert runs[0].status == "ran" and len(runs[0].failed_checks) == 1
    executed_time = (nbdir / "executed" / "01_good.ipynb").stat().st_mtime
    runs = run_notebooks(only=["1"], parameters={"num": 4}, strict=False, **kw)
    assert runs[0].status == "skipped"
    runs = run_notebooks(only=["good"], parameters={"num": 4}, strict=False, fresh=True, **kw)
    assert runs[0].status == "ran" and (nbdir / "executed" / "01_good.ipynb").stat().st_mtime > executed_time


@pytest.mark.notebook
def test_update_references(project, monkeypatch):
    kw = run_kw(project, monkeypatch)
    ref_path = project / "notebooks" / "references" / "01_good.quick.json"
    runs = run_notebooks(only=["01"], parameters={"num": 4}, update_references=True, **kw)
    assert runs[0].status == "ran"
    ref = json.loads(ref_path.read_text())
    assert ref["values"]["total"] == {"value": 2.0, "tolerance": 0.01}  # new value, kept tolerance
    assert ref["claims"][0]["id"] == "positive" and "--update-references" in ref["command"]
    assert json.loads((project / "figures" / "01_good" / "metrics.json").read_text())["reference_updated"]
    runs = run_notebooks(only=["01"], parameters={"num": 4}, **kw)  # checks against the new reference
    assert runs[0].status == "ran" and not runs[0].failed_checks


@pytest.mark.notebook
def test_other_profiles_write_their_own_folders(project, monkeypatch):
    kw = run_kw(project, monkeypatch)
    refs = project / "notebooks" / "references"
    (refs / "01_good.smoke.json").write_text((refs / "01_good.quick.json").read_text().replace('"quick"', '"smoke"'))
    runs = run_notebooks(only=["01"], profile="smoke", **kw)
    assert runs[0].status == "ran"
    assert (project / "figures" / "smoke" / "01_good" / "metrics.json").is_file()
    assert (project / "notebooks" / "executed" / "smoke" / "01_good.ipynb").is_file()
    assert not (project / "figures" / "01_good").exists()  # the quick figures are left alone


@pytest.mark.notebook
def test_calibration_seeds_set_tolerances_from_the_seed_spread(project, monkeypatch):
    kw = run_kw(project, monkeypatch)
    nbdir = project / "notebooks"
    nb = nbformat.read(write_notebook(nbdir, "03_seeded"), as_version=4)
    nb.cells[0].source += "seed = 0\noutput_dir = None\nfresh = False\n"
    # the notebook's "trials": one file per run in its seed's trial folder (what run_sweep would resume)
    nb.cells[1].source = nb.cells[1].source.replace('measured = {"total": num * scale}', (
        'from leaklib.profiles import trial_dir\n'
        'trials = trial_dir("03_seeded", profile, seed, "cpu", output_dir)\n'
        'trials.mkdir(parents=True, exist_ok=True)\n'
        '(trials / f"run{len(list(trials.iterdir()))}").touch()\n'
        'measured = {"total": num * scale + 0.1 * seed}'))
    nbformat.write(nb, nbdir / "03_seeded.ipynb")
    write_reference("03_seeded", "quick", {"total": 1.5}, tolerances={"total": 0.01}, ref_dir=nbdir / "references",
                    claims=[{"id": "big", "text": "the total is above 1.55", "check": "total > 1.55"}])
    with pytest.raises(LeaklibError, match="use them with update_references"):
        run_notebooks(only=["03"], calibration_seeds=[1, 2], **kw)
    runs = run_notebooks(only=["03"], update_references=True, calibration_seeds=[1, 2], strict=False, **kw)
    assert runs[0].status == "ran"
    ref = json.loads((nbdir / "references" / "03_seeded.quick.json").read_text())
    total = ref["values"]["total"]  # seeds 0, 1, 2 measured 1.5, 1.6, 1.7
    assert total["value"] == pytest.approx(1.6) and total["std"] == pytest.approx(0.1)
    assert total["tolerance"] == pytest.approx(0.4) and total["floor"] == 0.01  # 4 * std beats the floor
    cal = ref["calibration"]
    assert cal["seeds"] == [0, 1, 2] and cal["claims_held"] == {"big": "2/3"} and cal["fragile_claims"] == ["big"]
    metrics = json.loads((project / "figures" / "03_seeded" / "metrics.json").read_text())
    assert metrics["measured"] == {"total": 1.5} and metrics["rows"][0]["status"] == "PASS"  # seed 0 re-checked
    folders = sorted(p.name for p in (project / "figures").iterdir() if p.is_dir())
    assert folders == ["03_seeded"]  # the extra seeds' figures went to a temporary folder
    seeds = nbdir / "runs" / "03_seeded" / "quick"  # their trials to their own seed folders, kept for a resume
    assert sorted(p.name for p in seeds.iterdir()) == ["seed0-cpu", "seed1-cpu", "seed2-cpu"]
    run_notebooks(only=["03"], update_references=True, calibration_seeds=[1, 2], strict=False, **kw)
    assert len(list((seeds / "seed1-cpu").iterdir())) == 2  # the second calibration found the first one's trials
