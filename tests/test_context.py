"""The notebooks' shared header and last cell (leaklib.context)."""

import pytest

from leaklib.context import notebook_context
from leaklib.errors import LeaklibError
from leaklib.references import ClaimsFailed, write_reference

NB = "09_large_batch"


def parameters(tmp_path, **knobs):
    return {"profile": "smoke", "device": "cpu", "seed": 2, "data_root": None, "output_dir": str(tmp_path / "runs"),
            "figures_dir": str(tmp_path / "figures"), "references_dir": str(tmp_path / "refs"), "strict": True,
            "update_references": False, "fresh": False, "batch_size": None, **knobs}


def test_context_applies_the_knobs_it_finds_and_moves_the_seeds(tmp_path):
    ctx = notebook_context(NB, parameters(tmp_path, batch_size=3, unrelated_global=1))
    assert ctx.cfg["batch_size"] == 3 and ctx.cfg["model"]  # overridden; the rest from the profile
    assert ctx.device == "cpu" and ctx.output_dir.endswith("seed2-cpu") and ctx.fig_dir.endswith(NB)
    assert ctx.seeds([0, 5]) == [2000, 2005]


def test_context_names_a_missing_parameter(tmp_path):
    p = parameters(tmp_path)
    del p["strict"]
    with pytest.raises(LeaklibError, match="strict"):
        notebook_context(NB, p)


def test_context_check_fails_a_claim_that_does_not_hold(tmp_path):
    ctx = notebook_context(NB, parameters(tmp_path))
    write_reference(NB, "smoke", {"x": 1.0}, tolerances={"x": 0.1}, ref_dir=ctx.references_dir,
                    claims=[{"id": "x_small", "text": "x < 2", "check": "x < 2", "paper": "test"}])
    assert [r.status for r in ctx.check({"x": 1.05})] == ["PASS", "PASS"]
    with pytest.raises(ClaimsFailed):
        ctx.check({"x": 3.0})
