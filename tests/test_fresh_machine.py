"""A new machine gets what the default profiles need from ``./run_all.sh`` alone.

The data step of run_all.sh runs here against an empty world: an empty data root, an empty system data
folder (``LEAKLIB_SYSTEM_DATA``, where Debian packages put datasets) and a stand-in ``apt-get`` that
records what it is asked for and installs a tiny Fashion-MNIST in the real package's file layout. If a
smoke or quick profile starts to use a dataset the set-up does not provide, or the set-up stops
installing one (say the ``dataset-fashion-mnist`` route is dropped), ``test_setup_provides_every_dataset_
the_default_profiles_use`` fails, whatever happens to be installed on the machine that runs the tests.
"""

import gzip
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leaklib.data.registry import DEBIAN_PACKAGES
from leaklib.data.samples import SAMPLE_SETS
from leaklib.notebooks import data_needs, find_notebooks, missing_data, notebook_datasets

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = find_notebooks(ROOT / "notebooks")

FAKE_APT = """#!{python}
# A stand-in apt-get: logs its arguments; "install dataset-fashion-mnist" writes a tiny Fashion-MNIST.
import gzip, os, struct, sys
from pathlib import Path

with open(os.environ["FAKE_APT_LOG"], "a") as log:
    log.write(" ".join(sys.argv[1:]) + "\\n")
if "install" in sys.argv and "dataset-fashion-mnist" in sys.argv:
    folder = Path(os.environ["LEAKLIB_SYSTEM_DATA"]) / "fashion-mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", 12), ("t10k", 12)):
        with gzip.open(folder / f"{{prefix}}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBIII", 0, 8, 3, n, 28, 28) + bytes(range(256)) * (n * 784 // 256) + bytes(n * 784 % 256))
        with gzip.open(folder / f"{{prefix}}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">HBBI", 0, 8, 1, n) + bytes(i % 10 for i in range(n)))
"""
FAKE_SUDO = '#!/bin/sh\n[ "$1" = "-n" ] && shift\nexec "$@"\n'


def _executable(path: Path, text: str) -> None:
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


@pytest.fixture
def empty_world(tmp_path, monkeypatch):
    """Environment of a machine with nothing installed: empty data folders, a fake apt-get and sudo."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _executable(bin_dir / "apt-get", FAKE_APT.format(python=sys.executable))
    _executable(bin_dir / "sudo", FAKE_SUDO)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "LEAKLIB_PYTHON": sys.executable,
           "LEAKLIB_DATA": str(tmp_path / "data"), "LEAKLIB_SYSTEM_DATA": str(tmp_path / "system"),
           "FAKE_APT_LOG": str(tmp_path / "apt.log"), "LEAKLIB_SETUP_DOWNLOAD": "never"}
    for name in ("LEAKLIB_DATA", "LEAKLIB_SYSTEM_DATA"):
        monkeypatch.setenv(name, env[name])  # what missing_data() in this process then sees
    return env


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([str(ROOT / "run_all.sh"), "--setup-only"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)


def _apt_calls(env: dict[str, str]) -> list[str]:
    log = Path(env["FAKE_APT_LOG"])
    return log.read_text().splitlines() if log.is_file() else []


def test_the_smoke_profile_of_every_notebook_needs_only_the_embedded_samples():
    for nb in NOTEBOOKS:
        assert notebook_datasets(nb, "smoke") <= set(SAMPLE_SETS), nb.stem


def test_every_dataset_the_default_profiles_use_is_shipped_or_has_a_debian_package():
    for name, users in data_needs(["smoke", "quick"], ROOT / "notebooks").items():
        assert name in SAMPLE_SETS or name in DEBIAN_PACKAGES, (name, users)


def test_the_data_needs_are_read_from_the_profiles_and_the_notebook_code(tmp_path):
    assert "01_duplicate_label_recovery" in data_needs(["quick"], ROOT / "notebooks")["fashion-mnist"]  # a knob
    code = {"cell_type": "code", "source": ['data = load_dataset("cifar100-sample", root)\n']}
    (tmp_path / "99_names_a_dataset.ipynb").write_text(json.dumps({"cells": [code]}))
    assert data_needs(["quick"], tmp_path) == {"cifar100-sample": ["99_names_a_dataset"]}  # a name in the code


@pytest.mark.slow
def test_setup_provides_every_dataset_the_default_profiles_use(empty_world):
    assert [name for name, _, _ in missing_data(["smoke", "quick"], ROOT / "notebooks")] == ["fashion-mnist"]
    out = _setup(empty_world)
    assert out.returncode == 0, out.stdout + out.stderr
    assert any(c.startswith("install") and "dataset-fashion-mnist" in c for c in _apt_calls(empty_world))
    assert missing_data(["smoke", "quick"], ROOT / "notebooks") == []
    images = Path(empty_world["LEAKLIB_SYSTEM_DATA"]) / "fashion-mnist" / "t10k-images-idx3-ubyte.gz"
    assert np.frombuffer(gzip.open(images).read(), np.uint8).size == 16 + 12 * 784  # the stand-in's files


@pytest.mark.slow
def test_a_second_setup_installs_nothing(empty_world):
    assert _setup(empty_world).returncode == 0
    calls = len(_apt_calls(empty_world))
    out = _setup(empty_world)
    assert out.returncode == 0 and len(_apt_calls(empty_world)) == calls
    assert "everything the smoke and quick profiles use is here" in out.stdout


@pytest.mark.slow
def test_without_apt_or_network_the_setup_stops_and_says_how_to_get_the_data(empty_world):
    out = _setup({**empty_world, "LEAKLIB_SETUP_APT": "never"})
    assert out.returncode != 0 and _apt_calls(empty_world) == []
    assert "dataset fashion-mnist is missing" in out.stderr
    assert "01_duplicate_label_recovery" in out.stderr and "apt-get install dataset-fashion-mnist" in out.stderr
