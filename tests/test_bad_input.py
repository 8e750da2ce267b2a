"""The catalogue of user mistakes: each fails fast with one line that says what is wrong and what is allowed.

Every case is a LeaklibError (or, on the command line, exit code 2 with a one-line message and no
traceback), raised before any long computation. Module tests cover more; this file is the list.
"""

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from leaklib.attack import AttackConfig, invert
from leaklib.data import load_dataset, make_batch
from leaklib.errors import LeaklibError
from leaklib.fl import FedSGD, fedsgd_update
from leaklib.io import ensure_writable_dir
from leaklib.labels import recover_labels
from leaklib.models import build
from leaklib.profiles import settings
from leaklib.runtime import resolve_device


@pytest.fixture(scope="module")
def lenet():
    return build("lenet-zhu")


@pytest.fixture(scope="module")
def obs(lenet):
    batch = make_batch("cifar10-sample", 2, indices=[0, 1])
    return fedsgd_update(lenet, batch.images, batch.labels)


def _attack(model, observation, labels=None, **config):
    labels = torch.tensor([3, 8]) if labels is None else labels
    return invert(model, observation, labels, AttackConfig(**{"iterations": 2, **config}),
                  image_shape=(3, 32, 32), progress=False)


def _cifar_root(tmp_path, corrupt: bool) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"data": torch.zeros(2, 3072, dtype=torch.uint8).numpy(), b"labels": [0, 1]}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        (folder / name).write_bytes(pickle.dumps(batch))
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": [b"c"] * 10}))
    if corrupt:
        data = (folder / "test_batch").read_bytes()
        (folder / "test_batch").write_bytes(data[: len(data) // 2])
    return tmp_path


def _checkpoint(tmp_path, what: str) -> Path:
    path = tmp_path / f"{what}.pt"
    if what == "truncated":
        torch.save(build("lenet-zhu").state_dict(), path)
        path.write_bytes(path.read_bytes()[:500])
    elif what == "other-architecture":
        torch.save(build("mlp-16").state_dict(), path)
    else:  # an arbitrary pickled object, not a state dict
        torch.save({"model": Path("x")}, path)
    return path


CASES = {
    # names
    "unknown dataset": (lambda c: load_dataset("cifar11"), r"unknown dataset 'cifar11'.*cifar10-sample"),
    "unknown model": (lambda c: build("resnet21"), r"unknown model.*resnet21.*lenet-zhu"),
    "unknown label rule": (lambda c: recover_labels("magic", c["lenet"], c["obs"], 2), r"unknown label rule 'magic'.*geng"),
    "unknown method": (lambda c: AttackConfig.preset("gradinversion"), r"unknown method 'gradinversion'.*ig, ig-fast, dlg"),
    "unknown profile": (lambda c: settings("03_trained_vs_untrained", "fast"), r"unknown profile 'fast'.*smoke, quick, paper"),
    "unknown device": (lambda c: resolve_device("tpu"), r"unknown device 'tpu'.*auto, cpu, cuda"),
    "unknown batch pattern": (lambda c: make_batch("cifar10-sample", 2, "pairs"), r"pattern.*pairs.*unique"),
    # files
    "data root does not exist": (lambda c: load_dataset("cifar10", c["tmp"] / "nowhere"), r"nowhere"),
    "truncated CIFAR batch": (lambda c: load_dataset("cifar10", _cifar_root(c["tmp"], True)), r"test_batch.*(truncated|corrupt)"),
    "truncated checkpoint": (lambda c: build("lenet-zhu", checkpoint=_checkpoint(c["tmp"], "truncated")), r"truncated|corrupt"),
    "checkpoint of another architecture": (lambda c: build("lenet-zhu", checkpoint=_checkpoint(c["tmp"], "other-architecture")),
                                           r"lenet-zhu|architecture|missing|unexpected"),
    "checkpoint that is not a state dict": (lambda c: build("lenet-zhu", checkpoint=_checkpoint(c["tmp"], "object")),
                                            r"state dict|weights_only|not"),
    "output directory not writable": (lambda c: ensure_writable_dir("/proc/leaklib-out"), r"cannot be created|not writable"),
    # observations
    "observation with a missing tensor": (lambda c: _attack(c["lenet"], FedSGD(dict(list(c["obs"].gradient.items())[:-1]), 2)),
                                          r"has \d+ tensors but the model has \d+"),
    "observation of the wrong shape": (lambda c: _attack(c["lenet"], FedSGD({k: v[..., :1] if v.ndim > 1 else v
                                                                             for k, v in c["obs"].gradient.items()}, 2)),
                                       r"has shape .* the model's parameter has"),
    "observation of integer dtype": (lambda c: _attack(c["lenet"], FedSGD({k: v.long() for k, v in c["obs"].gradient.items()}, 2)),
                                     r"dtype torch.int64, expected a floating dtype"),
    "observation with NaN": (lambda c: _attack(c["lenet"], FedSGD({k: v * float("nan") for k, v in c["obs"].gradient.items()}, 2)),
                             r"contains NaN or Inf"),
    "observation all zero": (lambda c: _attack(c["lenet"], FedSGD({k: v * 0 for k, v in c["obs"].gradient.items()}, 2)),
                             r"all zero"),
    # labels and batches
    "labels outside the classes": (lambda c: _attack(c["lenet"], c["obs"], torch.tensor([3, 12])), r"labels? .*0..9|outside|classes"),
    "labels of the wrong count": (lambda c: _attack(c["lenet"], c["obs"], torch.tensor([3, 8, 1])), r"3 labels|2 images|one per image"),
    "batch size 0": (lambda c: make_batch("cifar10-sample", 0), r"size.*(> 0|at least 1|positive)"),
    "batch larger than the data": (lambda c: make_batch("cifar10-sample", 21, "random"), r"21.*20|20.*21"),
    "pattern the data cannot satisfy": (lambda c: make_batch("cifar10-sample", 8, "dup:8"), r"maximum is 4"),
    # attack settings
    "iterations <= 0": (lambda c: AttackConfig(iterations=0), r"iterations must be > 0, got 0"),
    "restarts <= 0": (lambda c: AttackConfig(restarts=-1), r"restarts must be > 0, got -1"),
    "negative TV weight": (lambda c: AttackConfig(tv=-1e-4), r"tv weight must be a finite number >= 0"),
    "seed that is not an integer": (lambda c: build("lenet-zhu", seed=0.5), r"seed must be an integer"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_fails_with_a_clear_message(case, lenet, obs, tmp_path):
    make, pattern = CASES[case]
    with pytest.raises(LeaklibError, match=pattern) as info:
        make({"lenet": lenet, "obs": obs, "tmp": tmp_path})
    assert "\n" not in str(info.value), "the message is one line"


def test_cuda_without_a_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    with pytest.raises(LeaklibError, match="no CUDA GPU is visible.*--device cpu or auto"):
        resolve_device("cuda")


def _cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    return subprocess.run([sys.executable, "-m", "leaklib", *args], capture_output=True, text=True, env=env)


@pytest.mark.parametrize("args, pattern", [
    (["attack", "--model", "resnet21", "--iterations", "1", "--out", "{tmp}"], "unknown model"),
    (["attack", "--iterations", "0", "--out", "{tmp}"], "iterations must be > 0"),
    (["labels", "--dataset", "cifar10-sample", "--model", "lenet-zhu", "--rules", "magic", "--out", "{tmp}"], "magic"),
    (["notebooks", "--profile", "fast"], "fast"),
    (["attack", "--device", "cuda", "--iterations", "1", "--out", "{tmp}"], "cuda"),
])
def test_command_line_mistakes_print_one_line_without_traceback(args, pattern, tmp_path):
    if "cuda" in args and torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    out = _cli(*[a.format(tmp=tmp_path / "out") for a in args])
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and pattern in out.stderr
    assert len([line for line in out.stderr.splitlines() if line.strip()]) <= 2  # argparse usage + message at most


def test_papermill_parameter_mistakes(tmp_path):
    import nbformat

    from leaklib.notebooks import validate_parameters

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    cell = nbformat.v4.new_code_cell("profile = 'quick'\niterations = 10\n")
    cell.metadata["tags"] = ["parameters"]
    nb.cells = [cell]
    path = tmp_path / "01_x.ipynb"
    path.write_text(json.dumps(nb))
    with pytest.raises(LeaklibError, match=r"parameter 'iterations' of notebook 01_x must be a int"):
        validate_parameters(path, {"iterations": "many"})
    with pytest.raises(LeaklibError, match=r"iters"):
        validate_parameters(path, {"iters": 3})
