"""Reference files, the safe check evaluator, PASS/FAIL rows, the claim table and the gallery."""

import json

import matplotlib
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from leaklib.errors import LeaklibError  # noqa: E402
from leaklib.io import save_figure  # noqa: E402
from leaklib.references import (  # noqa: E402
    ClaimsFailed,
    Row,
    assert_passed,
    check,
    check_and_record,
    check_names,
    claim_table,
    evaluate,
    load_reference,
    write_gallery,
    write_reference,
)

CLAIMS = [
    {
        "id": "trained-lower",
        "text": "Reconstructions from trained networks have lower PSNR than from untrained ones",
        "check": "psnr_untrained > psnr_trained",
        "paper": "Table 1: 19.1 dB untrained vs 13.6 dB trained",
    },
    {"id": "label-acc", "text": "labels recovered", "check": "label_accuracy >= 0.9 and mean(psnrs) > 10"},
]


def make_ref(tmp_path, measured=None):
    measured = measured or {"psnr_untrained": 18.0, "psnr_trained": 13.0, "label_accuracy": 1.0}
    path = write_reference(
        "03_trained", "quick", measured,
        tolerances={"psnr_untrained": 0.5, "psnr_trained": {"rel_tolerance": 0.1}},
        claims=CLAIMS, command="leaklib notebooks --only 03", ref_dir=tmp_path,
    )
    return path


def test_evaluator_allows_the_whitelist():
    names = {"a": 2.0, "b": 3, "xs": [1.0, 2.0, 6.0]}
    assert evaluate("a < b", names) is True
    assert evaluate("a * 2 - b / 3 == 3", names) is True
    assert evaluate("1 < a < b and not a > b or False", names) is True
    assert evaluate("abs(-a) + min(a, b) + max(xs) + mean(xs)", names) == pytest.approx(2 + 2 + 6 + 3)
    assert evaluate("-a", names) == -2.0
    assert check_names("mean(xs) > a and abs(b) < 4") == ["xs", "a", "b"]


@pytest.mark.parametrize(
    "expr",
    [
        "a.__class__",  # attribute access
        "__import__('os').system('true')",  # call of a non-whitelisted function
        "open('x')",
        "xs[0] > 1",  # subscript
        "a ** 2 > 1",  # power is not whitelisted
        "(lambda: 1)()",
        "'abc' == a",  # strings
        "[1, 2]",
        "min(xs, key=abs)",  # keywords
        "a if b else 1",
        "a = 1",  # syntax error in eval mode
    ],
)
def test_evaluator_rejects_everything_else(expr):
    with pytest.raises(LeaklibError, match="allowed"):
        evaluate(expr, {"a": 1.0, "b": 2.0, "xs": [1.0]})


def test_evaluator_reports_unmeasured_names():
    with pytest.raises(LeaklibError, match="not measured"):
        evaluate("a > zzz", {"a": 1})


def test_write_and_load_reference(tmp_path):
    path = make_ref(tmp_path)
    assert path.name == "03_trained.quick.json"
    ref = load_reference("03_trained", "quick", tmp_path)
    assert ref["command"] == "leaklib notebooks --only 03" and ref["created"].endswith("Z")
    assert ref["values"] == {
        "psnr_untrained": {"value": 18.0, "tolerance": 0.5},
        "psnr_trained": {"value": 13.0, "rel_tolerance": 0.1},
    }
    # regenerating keeps claims and tolerances, refreshes values
    write_reference("03_trained", "quick", {"psnr_untrained": 19.0, "psnr_trained": 12.0}, ref_dir=tmp_path)
    ref2 = load_reference("03_trained", "quick", tmp_path)
    assert ref2["claims"] == CLAIMS
    assert ref2["values"]["psnr_untrained"] == {"value": 19.0, "tolerance": 0.5}
    with pytest.raises(LeaklibError, match="no reference"):
        load_reference("03_trained", "paper", tmp_path)
    with pytest.raises(LeaklibError, match="needs a tolerance"):
        write_reference("04_x", "quick", {"a": 1.0}, names=["a"], ref_dir=tmp_path)


def test_load_rejects_bad_files(tmp_path):
    bad = {"notebook": "n", "profile": "p", "values": {"a": {"value": 1.0}}, "claims": []}
    (tmp_path / "n.p.json").write_text(json.dumps(bad))
    with pytest.raises(LeaklibError, match="tolerance"):
        load_reference("n", "p", tmp_path)
    bad = {"notebook": "n", "profile": "p", "values": {}, "claims": [{"id": "x", "text": "t", "check": "a.b"}]}
    (tmp_path / "n.p.json").write_text(json.dumps(bad))
    with pytest.raises(LeaklibError, match="not allowed"):
        load_reference("n", "p", tmp_path)


def test_check_pass_and_fail_rows(tmp_path):
    make_ref(tmp_path)
    ref = load_reference("03_trained", "quick", tmp_path)
    ok = {"psnr_untrained": 18.4, "psnr_trained": 12.0, "label_accuracy": 1.0, "psnrs": [12.0, 14.0]}
    rows = check(ok, ref)
    assert [(r.id, r.status) for r in rows] == [
        ("psnr_untrained", "PASS"), ("psnr_trained", "PASS"), ("trained-lower", "PASS"), ("label-acc", "PASS"),
    ]
    assert assert_passed(rows) == rows

    drifted = dict(ok, psnr_untrained=18.6, psnr_trained=11.6)  # 0.6 > 0.5 abs; 1.4 > 10% of 13
    rows = check(drifted, ref)
    status = {r.id: r.status for r in rows}
    assert status["psnr_untrained"] == "FAIL" and status["psnr_trained"] == "FAIL"
    assert status["trained-lower"] == "PASS"
    with pytest.raises(ClaimsFailed, match="2 of 4 checks failed") as err:
        assert_passed(rows)
    assert "psnr_untrained" in str(err.value) and "psnr_trained" in str(err.value)
    assert_passed(rows, strict=False)  # only warns

    as_arrays = dict(ok, psnr_untrained=np.float32(18.25), psnr_trained=torch.tensor(12.5))
    assert all(r.status == "PASS" for r in check(as_arrays, ref))

    claim_broken = dict(ok, psnr_trained=19.0)
    missing = {"psnr_untrained": 18.0}
    status = {r.id: (r.status, r.note) for r in check(claim_broken, ref)}
    assert status["trained-lower"][0] == "FAIL"
    status = {r.id: (r.status, r.note) for r in check(missing, ref)}
    assert status["psnr_trained"] == ("FAIL", "not measured")
    assert status["label-acc"][0] == "FAIL" and "not measured" in status["label-acc"][1]
    with pytest.raises(ClaimsFailed, match="no values or claims"):
        assert_passed([])


def test_claim_tables():
    rows = [
        Row("a", "value", "a reproduces", "1.0", "1 ± 0.1", "PASS"),
        Row("b", "claim", "x | y", "x=2", "x > 3", "FAIL", paper="3 dB"),
    ]
    text = claim_table(rows)
    assert "1/2 passed" in text and text.splitlines()[0].startswith("status")
    md = claim_table(rows, markdown=True)
    assert md.splitlines()[1].startswith("|---") and "x \\| y" in md
    assert len(md.splitlines()) == 4


def test_check_and_record_then_gallery(tmp_path):
    refs, figs = tmp_path / "refs", tmp_path / "figures"
    make_ref(refs)
    measured = {"psnr_untrained": 18.0, "psnr_trained": 13.0, "label_accuracy": 1.0, "psnrs": [11.0]}
    rows = check_and_record("03_trained", "quick", measured, ref_dir=refs, figures_dir=figs)
    stored = json.loads((figs / "03_trained" / "metrics.json").read_text())
    assert stored["passed"] == 4 and stored["failed"] == 0 and stored["measured"] == measured
    assert [Row(**r) for r in stored["rows"]] == rows
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    save_figure(fig, figs / "03_trained" / "psnr.png")
    plt.close(fig)
    (figs / "05_empty").mkdir()
    out = write_gallery(figs)
    text = out.read_text()
    assert out == figs / "README.md"
    assert "## 03_trained" in text and "4/4 checks passed" in text
    assert "](03_trained/psnr.png)" in text and "| PASS | - | trained-lower |" in text  # "-": this reference has no calibration seeds
    assert "## 05_empty" in text and "No metrics.json" in text


def test_check_and_record_update_regenerates_values_but_still_checks_claims(tmp_path):
    refs, figs = tmp_path / "refs", tmp_path / "figures"
    make_ref(refs)
    measured = {"psnr_untrained": 11.0, "psnr_trained": 14.0, "label_accuracy": 1.0, "psnrs": [11.0]}
    rows = check_and_record("03_trained", "quick", measured, ref_dir=refs, figures_dir=figs, update=True)
    ref = load_reference("03_trained", "quick", refs)
    assert ref["values"]["psnr_trained"] == {"value": 14.0, "rel_tolerance": 0.1}
    status = {r.id: r.status for r in rows}
    assert status["psnr_untrained"] == "PASS" and status["psnr_trained"] == "PASS"
    assert status["trained-lower"] == "FAIL"  # the claim is not "updated" away
    assert json.loads((figs / "03_trained" / "metrics.json").read_text())["reference_updated"] is True


def test_claim_marked_not_reproducing_is_reported_not_failed():
    from leaklib.references import NOT_REPRODUCED, assert_passed, check

    ref = {"notebook": "x", "profile": "quick", "values": {},
           "claims": [{"id": "c1", "text": "a > b", "check": "a > b", "reproduces": False,
                       "why": "too few iterations on a CPU"},
                      {"id": "c2", "text": "a < b", "check": "a < b"}]}
    rows = check({"a": 1.0, "b": 2.0}, ref)
    assert [r.status for r in rows] == [NOT_REPRODUCED, "PASS"]
    assert "too few iterations" in rows[0].note
    assert_passed(rows)  # does not raise
    rows = check({"a": 3.0, "b": 2.0}, ref)
    assert [r.status for r in rows] == ["PASS", "FAIL"]


def test_claim_marked_not_reproducing_needs_a_reason():
    import pytest

    from leaklib.errors import LeaklibError
    from leaklib.references import validate_reference

    with pytest.raises(LeaklibError, match="gives no 'why'"):
        validate_reference({"notebook": "x", "profile": "quick", "values": {},
                            "claims": [{"id": "c", "text": "t", "check": "1 > 0", "reproduces": False}]})


def test_metrics_json_records_seed_device_and_versions(tmp_path):
    from leaklib.io import read_json
    from leaklib.references import check_and_record

    ref_dir = tmp_path / "refs"
    check_and_record("nb", "quick", {"a": 1.0}, ref_dir=ref_dir, figures_dir=tmp_path / "figs", update=True,
                     tolerances={"a": 0.1}, claims=[{"id": "c", "text": "a positive", "check": "a > 0"}],
                     seed=7, device="cpu")
    run = read_json(tmp_path / "figs" / "nb" / "metrics.json")["provenance"]
    assert run["seed"] == 7 and run["device"] == "cpu" and "torch" in run and "leaklib" in run


def test_calibrate_reference_uses_the_seed_spread_and_keeps_the_floor(tmp_path):
    from leaklib.references import calibrate_reference

    write_reference("nb", "quick", {"psnr": 20.0, "n": 4}, tolerances={"psnr": 1.0, "n": 0.0}, ref_dir=tmp_path,
                    claims=[{"id": "high", "text": "PSNR above 19", "check": "psnr > 19"}])
    runs = {0: {"psnr": 20.0, "n": 4}, 1: {"psnr": 18.0, "n": 4}, 2: {"psnr": 22.0, "n": 4}}
    ref = calibrate_reference("nb", "quick", runs, ref_dir=tmp_path)
    assert ref["values"]["psnr"]["value"] == 20.0 and ref["values"]["psnr"]["tolerance"] == pytest.approx(8.0)
    assert ref["values"]["n"] == {"value": 4.0, "tolerance": 0.0, "floor": 0.0, "std": 0.0}
    assert ref["calibration"]["claims_held"] == {"high": "2/3"} and ref["calibration"]["fragile_claims"] == ["high"]
    assert ref["calibration"]["measured_by_seed"]["1"] == {"psnr": 18.0, "n": 4.0}  # both sides, seed by seed
    quiet = {s: {"psnr": 20.0 + 0.01 * s, "n": 4} for s in range(3)}
    again = calibrate_reference("nb", "quick", quiet, ref_dir=tmp_path)
    assert again["values"]["psnr"]["tolerance"] == 1.0  # back to the hand-set floor, no ratchet
    assert load_reference("nb", "quick", tmp_path)["calibration"]["fragile_claims"] == []
    with pytest.raises(LeaklibError, match="at least 2 seeds"):
        calibrate_reference("nb", "quick", {0: runs[0]}, ref_dir=tmp_path)
    with pytest.raises(LeaklibError, match=r"'n'.*seed\(s\) \[1\]"):
        calibrate_reference("nb", "quick", {0: runs[0], 1: {"psnr": 1.0}}, ref_dir=tmp_path)


def test_widen_reference_covers_other_cpu_runs_and_keeps_the_values(tmp_path):
    from leaklib.references import widen_reference

    write_reference("nb", "quick", {"psnr": 20.0, "acc": 0.9}, tolerances={"psnr": 1.0, "acc": 0.05}, ref_dir=tmp_path,
                    claims=[{"id": "high", "text": "PSNR above 20.5", "check": "psnr > 20.5"}])
    ref = widen_reference("nb", "quick", {"avx2": {"psnr": 21.5, "acc": 0.9}}, ref_dir=tmp_path, command="cmd")
    assert ref["values"]["psnr"] == {"value": 20.0, "tolerance": 3.0}  # 2 x the 1.5 dB the other kernels moved it
    assert ref["values"]["acc"] == {"value": 0.9, "tolerance": 0.05}  # not moved: the tolerance stays
    other = load_reference("nb", "quick", tmp_path)["calibration"]["other_cpus"]
    assert other["runs"] == ["avx2"] and other["claims_held"] == {"high": "1/1"} and other["command"] == "cmd"
    with pytest.raises(LeaklibError, match=r"'acc'.*run\(s\) \['default'\]"):
        widen_reference("nb", "quick", {"default": {"psnr": 20.0}}, ref_dir=tmp_path)


def test_the_gallery_shows_seeds_held_per_claim_and_the_widest_relative_tolerance(tmp_path):
    refs, figs = tmp_path / "refs", tmp_path / "figs"
    write_reference("03_trained", "quick", {"psnr_untrained": 20.0, "psnr_trained": 10.0},
                    tolerances={"psnr_untrained": 2.0, "psnr_trained": 4.0},
                    claims=[{"id": "lower", "text": "t", "check": "psnr_untrained > psnr_trained"}], ref_dir=refs)
    path = refs / "03_trained.quick.json"
    ref = json.loads(path.read_text())
    ref["calibration"] = {"claims_held": {"lower": "3/4"}}
    path.write_text(json.dumps(ref))
    check_and_record("03_trained", "quick", {"psnr_untrained": 20.0, "psnr_trained": 10.0}, ref_dir=refs,
                     figures_dir=figs)
    text = write_gallery(figs).read_text()
    assert "| PASS | 3/4 | lower |" in text
    assert "Widest relative tolerance: `psnr_trained` 10 ± 4 (40 % of its value)." in text
