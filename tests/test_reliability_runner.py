"""The notebook runner never loses a finished result, never calls a stale result up to date, and says
what it is doing (issue 14 items 4, 5, 6, 8; issue 13's progress and closing table)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from leaklib import notebooks, progress
from leaklib.errors import LeaklibError
from leaklib.notebooks import run_notebooks, summary
from leaklib.references import write_reference

ROOT = Path(__file__).resolve().parents[1]

PARAMS = ('profile = "quick"\nstrict = True\nfigures_dir = "../figures"\nreferences_dir = "references"\n'
          'update_references = False\nfresh = False\noutput_dir = None\nfail = False\n')
BODY = """
from pathlib import Path
import matplotlib.pyplot as plt
from leaklib.io import save_figure
from leaklib.references import assert_passed, check_and_record
from leaklib.runs import run_sweep

calls = Path(output_dir) / "calls.txt"
calls.parent.mkdir(parents=True, exist_ok=True)

def trial(p):
    with open(calls, "a") as f:
        f.write("x")
    return {"v": p["i"]}

records = run_sweep([{"i": i} for i in range(3)], trial, f"{output_dir}/sweep", fresh=fresh, desc="trials")
if fail:
    raise RuntimeError("this run was told to crash")
fig, ax = plt.subplots()
save_figure(fig, Path(figures_dir) / NAME / "plot.png")
measured = {"total": float(sum(r["result"]["v"] for r in records))}
rows = check_and_record(NAME, profile, measured, ref_dir=references_dir, figures_dir=figures_dir)
assert_passed(rows, strict=strict)
"""


@pytest.fixture
def project(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLBACKEND", "Agg")
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    nb = new_notebook(cells=[new_code_cell(PARAMS, metadata={"tags": ["parameters"]}),
                             new_code_cell('NAME = "01_sweep"\n' + BODY)],
                      metadata={"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}})
    nbformat.write(nb, nbdir / "01_sweep.ipynb")
    write_reference("01_sweep", "quick", {"total": 3.0}, tolerances={"total": 0.01}, ref_dir=nbdir / "references",
                    claims=[{"id": "positive", "text": "the total is positive", "check": "total > 0"}])
    return tmp_path


def _run(project, **kw):
    params = {"output_dir": str(project / "runs")} | kw.pop("parameters", {})
    return run_notebooks(notebooks_dir=project / "notebooks", figures_dir=project / "figures", progress_bar=False,
                         parameters=params, **kw)


def _calls(project) -> int:
    return len((project / "runs" / "calls.txt").read_text())


def test_a_typo_in_a_parameter_touches_nothing(tmp_path):
    figures = tmp_path / "figures"
    (figures / "02_same_class_fusion").mkdir(parents=True)
    (figures / "02_same_class_fusion" / "metrics.json").write_text('{"rows": []}')
    with pytest.raises(LeaklibError, match="knob 'iterations' of 02_same_class_fusion must be a int"):
        run_notebooks(only=["02"], parameters={"iterations": "abc"}, notebooks_dir=ROOT / "notebooks",
                      figures_dir=figures, executed_dir=tmp_path / "executed")
    assert (figures / "02_same_class_fusion" / "metrics.json").read_text() == '{"rows": []}'
    assert not (tmp_path / "executed").exists()


@pytest.mark.notebook
def test_a_crashed_run_keeps_the_previous_results(project):
    assert _run(project)[0].status == "ran"
    metrics = project / "figures" / "01_sweep" / "metrics.json"
    before = metrics.read_text()
    runs = _run(project, parameters={"fail": True})
    assert runs[0].status == "failed" and "told to crash" in runs[0].error and runs[0].error.startswith("cell 3:")  # of the executed copy (papermill adds a cell)
    assert metrics.read_text() == before and (metrics.parent / "plot.png").is_file()
    assert not (project / "figures" / ".staging").exists()
    assert "2/2 checks passed" in (project / "figures" / "README.md").read_text()


@pytest.mark.notebook
def test_a_result_is_up_to_date_only_while_everything_it_depends_on_is_unchanged(project, monkeypatch):
    assert [r.status for r in _run(project)] == ["ran"]
    assert [r.status for r in _run(project)] == ["skipped"]
    ref = project / "notebooks" / "references" / "01_sweep.quick.json"
    ref.write_text(ref.read_text().replace('"tolerance": 0.01', '"tolerance": 0.02'))  # an edited reference
    assert [r.status for r in _run(project)] == ["ran"]
    monkeypatch.setattr(notebooks, "_library_digest", lambda: "changed library code")
    assert [r.status for r in _run(project)] == ["ran"]
    assert [r.status for r in _run(project, threads=1)] == ["ran"]  # another thread count
    ref.write_text(ref.read_text()[:40])  # a truncated reference: a clear failure, never a stale PASS
    runs = _run(project)
    assert runs[0].status == "failed" and "reference" in runs[0].error


@pytest.mark.notebook
def test_fresh_recomputes_the_trials_too(project):
    _run(project)
    assert _calls(project) == 3
    _run(project, fresh=True)
    assert _calls(project) == 6


@pytest.mark.notebook
def test_progress_of_the_trials_and_the_closing_table(project, capsys):
    runs = _run(project)
    out = capsys.readouterr().out
    assert "01_sweep: trials 1/3" in out and "01_sweep: trials 3/3" in out
    table = summary(runs, project / "figures")
    assert "PASS" in table and "NOT REPR." in table and "FAIL" in table
    assert "01_sweep" in table and str(project / "figures" / "README.md") in table


def test_the_runner_refuses_a_figures_folder_another_run_holds(project):
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from leaklib.locks import hold_lock\n"
         "with hold_lock(sys.argv[1], 'another leaklib notebooks'):\n    print('held', flush=True); time.sleep(60)",
         str(project / "figures")], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(LeaklibError, match=f"in use by another leaklib notebooks \\(pid {holder.pid}"):
            _run(project)
    finally:
        holder.kill()
        holder.wait()
    assert not (project / "notebooks" / "executed").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write into any folder")
def test_an_unwritable_figures_folder_fails_before_anything_runs(project):
    (project / "figures").mkdir()
    (project / "figures").chmod(0o500)
    try:
        with pytest.raises(LeaklibError, match="not writable"):
            _run(project)
    finally:
        (project / "figures").chmod(0o700)
    assert not (project / "notebooks" / "executed").exists()


def test_progress_events_are_described_with_an_estimate(tmp_path, monkeypatch):
    monkeypatch.setenv(progress.ENV, str(tmp_path / "p.jsonl"))
    progress.report_trial("attacks", 1, 4, 1, 30.0)
    progress.report_trial("attacks", 4, 4, 3, 95.0)
    seen: list[str] = []
    with progress.ProgressWatcher(tmp_path / "p.jsonl", seen.append, interval=0.01):
        pass
    assert seen == ["attacks 1/4, 30s elapsed, ~1m30s left", "attacks 4/4, 1m35s elapsed (1 resumed)"]
    assert [json.loads(x)["done"] for x in (tmp_path / "p.jsonl").read_text().splitlines()] == [1, 4]


def test_a_reference_records_its_versions_and_a_run_with_others_is_warned(tmp_path, capsys):
    from leaklib.references import check_and_record, load_reference

    write_reference("01_x", "quick", {"v": 1.0}, tolerances={"v": 0.1}, ref_dir=tmp_path)
    ref = load_reference("01_x", "quick", tmp_path)
    assert set(ref["versions"]) == {"leaklib", "torch", "numpy", "python"}
    check_and_record("01_x", "quick", {"v": 1.0}, ref_dir=tmp_path, figures_dir=tmp_path / "figures")
    assert "WARNING" not in capsys.readouterr().out
    path = tmp_path / "01_x.quick.json"
    path.write_text(path.read_text().replace(ref["versions"]["torch"], "0.0.1"))
    check_and_record("01_x", "quick", {"v": 1.0}, ref_dir=tmp_path, figures_dir=tmp_path / "figures")
    assert f"versions differ from the reference's (torch 0.0.1 -> {ref['versions']['torch']})" in capsys.readouterr().out
    metrics = json.loads((tmp_path / "figures" / "01_x" / "metrics.json").read_text())
    assert "torch 0.0.1" in metrics["version_warning"]


def test_a_notebook_seed_beyond_numpys_range_is_refused_before_anything_runs(tmp_path):
    with pytest.raises(LeaklibError, match="seed must lie in 0..4294966"):
        run_notebooks(only=["02"], parameters={"seed": 2**70}, notebooks_dir=ROOT / "notebooks",
                      figures_dir=tmp_path / "figures", executed_dir=tmp_path / "executed")
    assert not (tmp_path / "executed").exists()


def test_a_data_root_that_is_a_file_is_named_as_such(tmp_path):
    from leaklib.data import load_dataset

    (tmp_path / "file").write_text("")
    with pytest.raises(LeaklibError, match="is a file, not a folder"):
        load_dataset("cifar10", tmp_path / "file")


def test_a_thread_count_beyond_any_machine_is_refused(project):
    with pytest.raises(LeaklibError, match="threads must be at most 256"):
        _run(project, threads=1000)
