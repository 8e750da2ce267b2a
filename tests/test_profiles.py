import pytest

from leaklib import profiles
from leaklib.errors import LeaklibError


@pytest.fixture
def nb(monkeypatch):
    monkeypatch.setitem(profiles.PROFILES, "99_test", {"smoke": {"iterations": 2, "tv": 1e-4, "images": [0]},
                                                       "quick": {"iterations": 50, "tv": 1e-4, "images": [0, 1]}})
    return "99_test"


def test_settings_take_profile_values_and_overrides(nb):
    assert profiles.settings(nb, "quick") == {"iterations": 50, "tv": 1e-4, "images": [0, 1]}
    assert profiles.settings(nb, "smoke", iterations=7, tv=None)["iterations"] == 7
    assert profiles.settings(nb, "smoke", tv=1)["tv"] == 1


def test_settings_errors(nb):
    with pytest.raises(LeaklibError, match="unknown profile 'fast'; valid profiles: smoke, quick, paper"):
        profiles.settings(nb, "fast")
    with pytest.raises(LeaklibError, match="has no 'paper' profile"):
        profiles.settings(nb, "paper")
    with pytest.raises(LeaklibError, match="has no knob 'iters'; its knobs: images, iterations, tv"):
        profiles.settings(nb, "quick", iters=3)
    with pytest.raises(LeaklibError, match="knob 'iterations' of 99_test must be a int"):
        profiles.settings(nb, "quick", iterations="many")
    with pytest.raises(LeaklibError, match="unknown notebook"):
        profiles.settings("00_nothing", "quick")


def test_every_registered_notebook_names_the_same_knobs_in_each_profile():
    for name, entry in profiles.PROFILES.items():
        knobs = [set(entry[p]) for p in profiles.PROFILE_NAMES if p in entry]
        assert all(k == knobs[0] for k in knobs), name


def test_trial_dir_separates_seeds_and_devices(tmp_path):
    from pathlib import Path

    from leaklib.profiles import trial_dir

    assert trial_dir("09_large_batch", "quick", 0, "cpu") == Path("runs/09_large_batch/quick/seed0-cpu")
    assert trial_dir("09_large_batch", "quick", 1, "cuda", str(tmp_path)) == tmp_path / "seed1-cuda"
