"""Every notebook runs in the smoke and quick profiles and its measured values and claims pass.

These execute the real notebooks with papermill (quick: minutes each on a 2-core CPU); the references
they check are notebooks/references/<notebook>.<profile>.json. Figures and trial records go to a
temporary folder, so the committed figures/ are not touched. The smoke runs see no data root and no
system datasets: they must run on the samples shipped inside the installed wheels.
"""

import json
from pathlib import Path

import pytest

from leaklib.notebooks import find_notebooks, profile_dir, run_notebooks

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = [p.stem for p in find_notebooks(ROOT / "notebooks")]


@pytest.mark.notebook
@pytest.mark.parametrize("profile", ["smoke", "quick"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_reproduces_its_references(name, profile, tmp_path, monkeypatch):
    if profile == "smoke":  # smoke runs on the samples inside the installed wheels, nothing else
        monkeypatch.setenv("LEAKLIB_DATA", str(tmp_path / "no-data"))
        monkeypatch.setenv("LEAKLIB_SYSTEM_DATA", str(tmp_path / "no-system-data"))
    runs = run_notebooks(
        only=[name], profile=profile, device="cpu", fresh=True, strict=True,
        parameters={"output_dir": str(tmp_path / "runs")},
        notebooks_dir=ROOT / "notebooks", figures_dir=tmp_path / "figures", executed_dir=tmp_path / "executed",
        progress_bar=False,
    )
    assert [r.status for r in runs] == ["ran"], "\n".join([runs[0].error, *runs[0].failed_checks])
    figures = profile_dir(tmp_path / "figures", profile) / name
    metrics = json.loads((figures / "metrics.json").read_text())
    assert metrics["profile"] == profile
    assert list(figures.glob("*.png")), "the notebook wrote no figure"


def test_every_notebook_has_smoke_and_quick_references():
    for name in NOTEBOOKS:
        for profile in ("smoke", "quick"):
            assert (ROOT / "notebooks" / "references" / f"{name}.{profile}.json").is_file(), (name, profile)
