"""Reference files, the safe check evaluator, PASS/FAIL rows, the claim table and the gallery."""

import ast
import json
import re
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from leaklib.errors import LeaklibError  # noqa: E402
from leaklib.io import save_figure, write_json  # noqa: E402
from leaklib.profiles import settings  # noqa: E402
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
    validate_reference,
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


# ---------------------------------------------------------------- the paper profile's references
ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _loop_bindings(loop: ast.For, cfg: dict, dicts: dict[str, list[str]]) -> dict[str, list[str]]:
    """The values a ``for`` loop's names take, where the code fixes them: a literal tuple or list (of tuples for
    ``for a, b in ...``), a knob ``cfg["..."]`` of the profile, or the keys of a dict literal of the cell
    (``for k, v in pairs.items()``); names bound otherwise are left out."""
    it = loop.iter
    if isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr == "items" \
            and isinstance(it.func.value, ast.Name) and it.func.value.id in dicts:
        items = [ast.Tuple([ast.Constant(k), ast.Name("_")]) for k in dicts[it.func.value.id]]
    elif isinstance(it, ast.Subscript) and isinstance(it.value, ast.Name) and it.value.id == "cfg":
        items = [ast.Constant(v) for v in cfg[ast.literal_eval(it.slice)]]
    elif isinstance(it, (ast.Tuple, ast.List)):
        items = it.elts
    else:
        return {}
    targets = [loop.target] if isinstance(loop.target, ast.Name) else list(getattr(loop.target, "elts", []))
    bound = {}
    for i, target in enumerate(targets):
        parts = [item if len(targets) == 1 else getattr(item, "elts", [None] * len(targets))[i] for item in items]
        if isinstance(target, ast.Name) and all(isinstance(p, ast.Constant) for p in parts):
            bound[target.id] = [str(p.value) for p in parts]
    return bound


def _key_pattern(key: ast.expr, env: dict[str, list[str]]) -> str | None:
    """A regex of the names a key expression gives: a string as it is, an f-string with each loop name replaced
    by its values and anything else by ``\\w+``; None for a key that is not a string."""
    if isinstance(key, ast.Constant) and isinstance(key.value, str):
        return re.escape(key.value)
    if not isinstance(key, ast.JoinedStr):
        return None
    out = ""
    for part in key.values:
        if isinstance(part, ast.Constant):
            out += re.escape(part.value)
        elif isinstance(part.value, ast.Name) and part.value.id in env:
            out += "(?:" + "|".join(re.escape(v) for v in env[part.value.id]) + ")"
        else:
            out += r"\w+"
    return out


def measured_patterns(notebook: str, profile: str = "paper") -> list[str]:
    """Regexes of every name a notebook's ``measured`` dict can hold under ``profile``, read from the code of the
    cell that calls ``ctx.check(measured)``: its ``measured = {...}`` literal, ``measured[key] = ...`` and
    ``measured.update(...)``, with loops over literals and over the profile's knobs resolved."""
    nb = nbformat.read(ROOT / "notebooks" / f"{notebook}.ipynb", as_version=4)
    cell = [c.source for c in nb.cells if c.cell_type == "code" and "ctx.check(measured)" in c.source][-1]
    cfg, found = settings(notebook, profile), []
    dicts = {t.id: [k.value for k in node.value.keys] for node in ast.walk(ast.parse(cell))
             if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict)
             and all(isinstance(k, ast.Constant) for k in node.value.keys) for t in node.targets
             if isinstance(t, ast.Name)}

    def is_measured(node: ast.AST) -> bool:
        return isinstance(node, ast.Name) and node.id == "measured"

    def visit(node: ast.AST, env: dict[str, list[str]]) -> None:
        if isinstance(node, ast.For):
            env = {**env, **_loop_bindings(node, cfg, dicts)}
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if is_measured(target) and isinstance(node.value, ast.Dict):
                    found.extend(_key_pattern(k, env) for k in node.value.keys)
                for t in getattr(target, "elts", [target]):
                    if isinstance(t, ast.Subscript) and is_measured(t.value):
                        found.append(_key_pattern(t.slice, env))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and is_measured(node.func.value) \
                and node.func.attr == "update":
            found.extend(re.escape(k.arg) for k in node.keywords)
            found.extend(_key_pattern(k, env) for a in node.args if isinstance(a, ast.Dict) for k in a.keys)
        for child in ast.iter_child_nodes(node):
            visit(child, env)

    visit(ast.parse(cell), {})
    return [p for p in found if p]


def test_the_name_reader_follows_the_paper_knobs():
    """How the next test reads a notebook: names are the code's, loops over knobs take the paper profile's values."""
    def measured(name, notebook="01_duplicate_label_recovery", profile="paper"):
        return any(re.fullmatch(p, name) for p in measured_patterns(notebook, profile))

    assert measured("acc_geng_dup4_fedsgd") and measured("acc_geng_path_large_fedavg") and measured("psnr_gap_wins")
    assert not measured("acc_geng_dup4_fedsgdx") and not measured("psnr_gen")  # typos
    assert not measured("acc_geng_dup3_fedsgd", profile="smoke") and measured("acc_geng_dup3_fedsgd", profile="quick")
    assert measured("acc_geng_dup8_fedsgd") and not measured("acc_geng_dup3_fedsgd")  # paper dups: [1, 2, 4, 8]
    assert measured("psnr_dlg_trained", "03_trained_vs_untrained") and not measured("psnr_cg_trained",
                                                                                     "03_trained_vs_untrained")
    assert measured("width_hi_minus_lo_mean", "04_width_depth") and not measured("width_top_mean", "04_width_depth")


@pytest.mark.parametrize("notebook", NOTEBOOKS)
def test_every_notebook_has_a_paper_reference_whose_checks_use_only_what_it_measures(notebook):
    """The paper profile's reference: nothing pinned before a paper run, the papers' claims, each citing its source,
    and every name a check uses is one the notebook's last cell measures with the paper profile's knobs."""
    ref = load_reference(notebook, "paper", ROOT / "notebooks" / "references")
    assert ref["notebook"] == notebook and ref["profile"] == "paper" and ref["values"] == {}
    assert ref["claims"], "a paper reference without claims checks nothing"
    patterns = measured_patterns(notebook)
    for claim in ref["claims"]:
        assert claim.get("paper", "").strip(), f"{claim['id']} names no source"
        unmeasured = [n for n in check_names(claim["check"]) if not any(re.fullmatch(p, n) for p in patterns)]
        assert not unmeasured, f"{notebook}: claim {claim['id']} uses {unmeasured}, which the notebook never measures"


def test_paper_width_and_depth_claims_name_networks_of_the_paper_profile():
    """04 names its medians after the networks (``psnr_resnet20_8``): those its paper claims use must be ones the
    paper profile attacks (widths 1, 2, 4, 8 of ResNet-20; depths 20 .. 56 at width 4)."""
    cfg = settings("04_width_depth", "paper")
    models = {f"resnet20_{w}" for w in cfg["widths"]} | {f"resnet{d}_{cfg['depth_width']}" for d in cfg["depths"]}
    ref = load_reference("04_width_depth", "paper", ROOT / "notebooks" / "references")
    named = {m.group(2) for c in ref["claims"] for n in check_names(c["check"])
             if (m := re.fullmatch(r"(psnr|ssim|bar)_(resnet\d+_\d+)", n))}
    assert named and named <= models, named - models


PUBLISHED = {"id": "labels", "text": "geng recovers nearly every label", "check": "acc_geng >= 0.99 and acc_geng > acc_yin",
             "paper": "Geng et al. 2021, Sec. 5", "published": {"acc_geng": 0.996, "acc_yin": 0.4939},
             "published_setting": "ImageNet, batch 16"}


def test_a_claim_with_published_numbers_shows_them_beside_the_measured_ones():
    ref = {"notebook": "01", "profile": "paper", "values": {}, "claims": [PUBLISHED, CLAIMS[1]]}
    rows = check({"acc_geng": 0.98, "acc_yin": 0.6, "label_accuracy": 1.0, "psnrs": [12.0]}, ref)
    assert rows[0].published == "acc_geng=0.996, acc_yin=0.4939 (ImageNet, batch 16)" and rows[1].published == ""
    assert rows[0].measured == "acc_geng=0.98, acc_yin=0.6" and rows[0].status == "FAIL"  # 0.98 < 0.99
    header, _, first, *_ = claim_table(rows).splitlines()
    assert header.split()[:5] == ["status", "id", "claim", "measured", "published"]
    assert "acc_geng=0.996, acc_yin=0.4939 (ImageNet, batch 16)" in first
    md = claim_table(rows, markdown=True).splitlines()
    assert md[0].startswith("| status | id | claim | measured | published | reference |")
    assert "| acc_geng=0.98, acc_yin=0.6 | acc_geng=0.996, acc_yin=0.4939 (ImageNet, batch 16) |" in md[2]
    assert "published" not in claim_table(rows[1:])  # no column when no claim has a published number


@pytest.mark.parametrize("field, value, message", [
    ("published", 0.996, "'published' must map measured names"),
    ("published", {}, "'published' must map measured names"),
    ("published", {"acc_geng": "99.6 %"}, "'published' 'acc_geng' must be a finite number"),
    ("published", {"acc_geng": True}, "'published' 'acc_geng' must be a finite number"),
    ("published", {"acc_geng": float("nan")}, "'published' 'acc_geng' must be a finite number"),
    ("published", {"acc_gen": 0.996}, "'published' names 'acc_gen', which its check does not use"),
    ("published_setting", "", "'published_setting' must be a non-empty string"),
    ("published_setting", ["ImageNet"], "'published_setting' must be a non-empty string"),
])
def test_a_bad_published_field_gets_an_error_naming_the_claim_and_the_field(field, value, message):
    ref = {"notebook": "01", "profile": "paper", "values": {}, "claims": [{**PUBLISHED, field: value}]}
    with pytest.raises(LeaklibError, match=re.escape(f"claim 'labels': {message}")):
        validate_reference(ref, "01.paper.json")
    alone = {k: v for k, v in PUBLISHED.items() if k != "published"}
    with pytest.raises(LeaklibError, match="'published_setting' describes published numbers, but the claim has no"):
        validate_reference({**ref, "claims": [alone]})


def test_a_reference_without_values_is_checked_on_its_claims_alone(tmp_path, capsys):
    refs, figs = tmp_path / "refs", tmp_path / "figs"
    refs.mkdir()
    write_json(refs / "01_x.paper.json", {"notebook": "01_x", "profile": "paper", "values": {}, "claims": [PUBLISHED]})
    rows = check_and_record("01_x", "paper", {"acc_geng": 0.997, "acc_yin": 0.5}, ref_dir=refs, figures_dir=figs)
    assert [(r.kind, r.id, r.status) for r in rows] == [("claim", "labels", "PASS")]
    assert assert_passed(rows) == rows
    metrics = json.loads((figs / "01_x" / "metrics.json").read_text())
    assert metrics["version_warning"] is None and metrics["widest_tolerance"] is None  # nothing pinned to drift
    assert "WARNING" not in capsys.readouterr().out
    assert "| acc_geng=0.996, acc_yin=0.4939 (ImageNet, batch 16) |" in write_gallery(figs).read_text()


def test_update_on_a_paper_reference_keeps_its_claims_and_published_numbers(tmp_path):
    """--update-references on the paper profile: the claims (and the papers' numbers) stay, values are pinned only
    where tolerances are given, and a reference that would check nothing is never written."""
    refs, figs = tmp_path / "refs", tmp_path / "figs"
    nb = "01_duplicate_label_recovery"
    original = load_reference(nb, "paper", ROOT / "notebooks" / "references")
    refs.mkdir()
    write_json(refs / f"{nb}.paper.json", original)
    measured = {n: 0.5 for c in original["claims"] for n in check_names(c["check"])}
    rows = check_and_record(nb, "paper", measured, ref_dir=refs, figures_dir=figs, update=True)
    updated = load_reference(nb, "paper", refs)
    assert updated["claims"] == original["claims"] and updated["values"] == {}
    assert [r.id for r in rows] == [c["id"] for c in original["claims"]]  # checked on the claims, not emptied
    assert rows[0].published.startswith("acc_geng_dup8_fedsgd=0.996, acc_yin_dup8_fedsgd=0.4939 (paper: ImageNet")
    check_and_record(nb, "paper", measured, ref_dir=refs, figures_dir=figs, update=True,
                     tolerances={"psnr_geng": 2.0})
    pinned = load_reference(nb, "paper", refs)
    assert pinned["values"] == {"psnr_geng": {"value": 0.5, "tolerance": 2.0}}
    assert pinned["claims"] == original["claims"]
    with pytest.raises(LeaklibError, match="would pin no values and state no claims"):
        check_and_record("02_none", "paper", {"a": 1.0}, ref_dir=refs, figures_dir=figs, update=True)
    assert not (refs / "02_none.paper.json").exists()
