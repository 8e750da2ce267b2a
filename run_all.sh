#!/usr/bin/env bash
# leaklib: set-up plus the main job, in one command.
#
#   ./run_all.sh                 set up, then run every notebook (quick profile) and build figures/README.md
#   ./run_all.sh --tests         set up, then run the test suite (this is what CI runs)
#   ./run_all.sh --only 03       run one notebook (a number or a name); repeatable
#   ./run_all.sh --profile paper --device cuda
#   ./run_all.sh --fresh         recompute finished notebooks and their trials instead of resuming
#   ./run_all.sh --threads 4     torch threads per notebook (default 2, as the references were made)
#   ./run_all.sh --setup-only    only build the environment and get the datasets
#   ./run_all.sh --gpu-check     on a GPU machine: the CUDA tests, one attack with IG's published recipe and
#                                the bench, into runs/gpu-check/gpu_check.json (leaklib gpu-check; ~10 min)
#
# Set-up: a conda environment from environment.yml (prefix ./.conda-env) when conda or mamba is on
# PATH, otherwise a ./.venv built with pip from pyproject.toml, pinned by constraints.txt (the versions
# the stored references were made with). A stamp of the dependency files makes a re-run skip the install
# when nothing changed. LEAKLIB_ENV=venv forces the pip route; LEAKLIB_PYTHON=/path/to/python uses that
# interpreter as it is (no environment set-up).
# Data: the datasets the smoke and quick profiles use and no wheel ships (today: Fashion-MNIST, from the
# Debian package dataset-fashion-mnist; `leaklib data needs` names them) are
# installed as Debian packages when apt-get may be used (root, or sudo without a password), else
# downloaded when the machine is online; else the script stops and says how to get them.
# LEAKLIB_SETUP_APT=never and LEAKLIB_SETUP_DOWNLOAD=never turn either route off.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "run_all.sh: error: $*" >&2; exit 1; }
step() { echo "==> $*"; }

mode=notebooks
nb_args=()
pytest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --tests) mode=tests ;;
    --setup-only) mode=setup ;;
    --gpu-check) mode=gpu-check ;;
    --only) [ $# -ge 2 ] || die "--only needs a notebook number or name"; nb_args+=(--only "$2"); shift ;;
    --profile) [ $# -ge 2 ] || die "--profile needs one of smoke, quick, paper"; nb_args+=(--profile "$2"); shift ;;
    --device) [ $# -ge 2 ] || die "--device needs one of auto, cpu, cuda"; nb_args+=(--device "$2"); shift ;;
    --fresh) nb_args+=(--fresh) ;;
    --threads) [ $# -ge 2 ] || die "--threads needs a number"; nb_args+=(--threads "$2"); shift ;;
    --) shift; pytest_args+=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) die "unknown option '$1' (allowed: --tests, --setup-only, --gpu-check, --only N, --profile P, --device D, --fresh, --threads N, -- PYTEST_ARGS)" ;;
  esac
  shift
done

# The packages whose declared dependencies must not be installed (cifar-10-model pins tensorflow).
NODEPS_PINS="cifar-10-model==7.4.0"

stamp_of() { cat pyproject.toml environment.yml constraints.txt <(echo "$NODEPS_PINS") | sha256sum | cut -d' ' -f1; }

setup_venv() {
  local py=${PYTHON:-python3}
  command -v "$py" >/dev/null || die "no $py on PATH: install Python >= 3.10"
  if [ ! -x .venv/bin/python ]; then
    step "creating .venv with $($py --version)"
    "$py" -m venv .venv || die "could not create .venv (on Debian: apt-get install python3-venv)"
  fi
  PY=.venv/bin/python
  if [ "$(cat .venv/.leaklib-stamp 2>/dev/null)" = "$(stamp_of)" ] && $PY -c "import leaklib" 2>/dev/null; then
    step "environment up to date (.venv)"
    return
  fi
  step "installing leaklib and its dependencies into .venv (first time: a few minutes, torch is large)"
  $PY -m pip install -q --upgrade pip || die "pip upgrade failed"
  $PY -m pip install -q -c constraints.txt -e ".[notebooks,dev,course,distributed]" \
    || die "pip install of leaklib failed (see the messages above)"
  $PY -m pip install -q --no-deps $NODEPS_PINS || die "pip install --no-deps $NODEPS_PINS failed"
  stamp_of > .venv/.leaklib-stamp
}

setup_conda() {
  local conda=$1
  PY=.conda-env/bin/python
  if [ "$(cat .conda-env/.leaklib-stamp 2>/dev/null)" = "$(stamp_of)" ] && $PY -c "import leaklib" 2>/dev/null; then
    step "environment up to date (.conda-env)"
    return
  fi
  step "creating the conda environment .conda-env from environment.yml with $conda"
  if [ -d .conda-env ]; then
    "$conda" env update -q -p .conda-env -f environment.yml || die "$conda env update failed"
  else
    "$conda" env create -q -p .conda-env -f environment.yml || die "$conda env create failed"
  fi
  $PY -m pip install -q --no-deps -e . || die "pip install -e . failed"
  $PY -m pip install -q --no-deps $NODEPS_PINS || die "pip install --no-deps $NODEPS_PINS failed"
  stamp_of > .conda-env/.leaklib-stamp
}

# ---- data the default profiles use that no wheel ships: Debian package, else download, else stop
can_apt() {
  [ "${LEAKLIB_SETUP_APT:-auto}" != "never" ] && command -v apt-get >/dev/null 2>&1 || return 1
  if [ "$(id -u)" -eq 0 ]; then SUDO=(); elif sudo -n true 2>/dev/null; then SUDO=(sudo -n); else return 1; fi
}

apt_install() {
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "$1" >/dev/null 2>&1 && return 0
  step "apt-get install $1 failed; updating the package lists and trying again"
  "${SUDO[@]}" apt-get update -q >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -q "$1"
}

ensure_data() {
  local missing name package users how
  missing=$($PY -m leaklib data needs --missing --tsv) || die "could not work out which datasets are needed"
  [ -n "$missing" ] || { step "datasets: everything the smoke and quick profiles use is here"; return; }
  while IFS=$'\t' read -r name package users; do
    if [ "$package" != "-" ] && can_apt; then
      step "installing the Debian package $package ($name, used by ${users//,/, })"
      apt_install "$package" && continue
    fi
    if [ "${LEAKLIB_SETUP_DOWNLOAD:-auto}" != "never" ]; then
      step "downloading $name with torchvision (used by ${users//,/, })"
      timeout 900 $PY -m leaklib data download "$name" && continue
    fi
    how="leaklib data download $name (on a machine with internet)"
    [ "$package" != "-" ] && how="sudo apt-get install $package   or   $how"
    die "dataset $name is missing and could not be installed; notebooks ${users//,/, } need it. Get it with: $how"
  done <<< "$missing"
  missing=$($PY -m leaklib data needs --missing --tsv)
  [ -z "$missing" ] || die "still missing after the set-up: ${missing//$'\t'/ }"
}

if [ -n "${LEAKLIB_PYTHON:-}" ]; then
  PY=$LEAKLIB_PYTHON
  $PY -c "import leaklib" 2>/dev/null || die "LEAKLIB_PYTHON=$PY cannot import leaklib"
  step "using $PY as it is (LEAKLIB_PYTHON; no environment set-up)"
else
  conda_bin=""
  if [ "${LEAKLIB_ENV:-}" != "venv" ]; then
    for c in mamba conda; do command -v "$c" >/dev/null 2>&1 && { conda_bin=$c; break; }; done
  fi
  if [ -n "$conda_bin" ]; then setup_conda "$conda_bin"; else setup_venv; fi
fi
export MPLBACKEND=Agg
ensure_data

case "$mode" in
  setup) step "set-up done: activate with 'source $(dirname "$PY")/activate'" ;;
  tests)
    step "running the test suite"
    set +e
    $PY -m pytest -q "${pytest_args[@]}"
    rc=$?
    set -e
    [ $rc -eq 0 ] || die "tests failed (pytest exit code $rc)"
    ;;
  gpu-check)
    step "the GPU check (CUDA tests, IG's published recipe on one image, the bench)"
    $PY -m leaklib gpu-check --out runs/gpu-check
    ;;
  notebooks)
    if compgen -G "notebooks/[0-9][0-9]_*.ipynb" >/dev/null; then
      step "running the notebooks"
      $PY -m leaklib notebooks "${nb_args[@]}"
    else
      step "no notebooks yet: running the end-to-end demo"
      $PY -m leaklib demo
    fi
    ;;
esac
