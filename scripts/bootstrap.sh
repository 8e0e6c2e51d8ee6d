#!/usr/bin/env bash
# Installs everything rave-gui needs on a fresh Debian 12 (Python 3.11): system packages,
# a virtual environment in .venv, the app, its test tools and the RAVE command line (CPU).
# Idempotent: a second run only checks what is there. Usage: scripts/bootstrap.sh [--no-rave]
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VENV="$ROOT/.venv"
WITH_RAVE=1
[ "${1:-}" = "--no-rave" ] && WITH_RAVE=0

APT_PKGS="libegl1 libgl1 libx11-6 libdbus-1-3 libfontconfig1 libfreetype6 libglib2.0-0 \
libxkbcommon0 fonts-dejavu-core libx11-xcb1 libxcb1 libxcb-cursor0 libxcb-icccm4 libxcb-image0 \
libxcb-keysyms1 libxcb-randr0 libxcb-render-util0 libxcb-render0 libxcb-shape0 libxcb-shm0 \
libxcb-sync1 libxcb-util1 libxcb-xfixes0 libxcb-xkb1 libxkbcommon-x11-0 ffmpeg"

missing=""
for p in $APT_PKGS; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "bootstrap: installing system packages:$missing"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

# A real sshd and a real single-node SLURM for the remote-run tests (tests/helpers/remote_hosts.py
# starts them on 127.0.0.1): installed only as root (CI, a fresh container); elsewhere the tests
# are skipped, saying why. Set RAVE_GUI_NO_REMOTE_PKGS=1 to leave them out.
REMOTE_PKGS="openssh-server openssh-client slurm-wlm munge"
if [ "$(id -u)" -eq 0 ] && [ -z "${RAVE_GUI_NO_REMOTE_PKGS:-}" ] && command -v apt-get >/dev/null; then
  missing=""
  for p in $REMOTE_PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
  done
  if [ -n "$missing" ]; then
    echo "bootstrap: installing the remote-run test services:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq || true
    # shellcheck disable=SC2086
    apt-get install -y -qq --no-install-recommends $missing >/dev/null \
      || echo "bootstrap: could not install$missing: the SSH/SLURM tests will be skipped"
  fi
  # rsync for dataset uploads (tar over ssh otherwise): on its own, so that its absence
  # skips only the rsync upload test
  if ! command -v rsync >/dev/null; then
    apt-get install -y -qq --no-install-recommends rsync >/dev/null \
      || echo "bootstrap: could not install rsync: uploads use tar over ssh"
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PY" -m venv "$VENV"
fi
VPY="$VENV/bin/python"
export PIP_DISABLE_PIP_VERSION_CHECK=1

stamp="$VENV/.rave-gui-stamp"
want="$(cat pyproject.toml scripts/bootstrap.sh | sha1sum | cut -c1-12)-$WITH_RAVE"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ "$WITH_RAVE" = 1 ]; then
  # RAVE (acids-rave 2.3.1) on a CPU-only machine: see shared fixtures README. torch is pinned
  # here, not in the package's requirements: an unpinned torch pulls gigabytes of CUDA packages.
  "$VPY" -m pip install -q torch==2.13.0
  "$VPY" -m pip install -q --no-deps acids-rave==2.3.1 torchaudio==2.11.0 nn-tilde==1.6.0
  "$VPY" -m pip install -q absl-py einops gin-config GPUtil librosa "numpy<2" scipy==1.10.0 \
    pytorch-lightning==1.9.0 PyYAML scikit-learn tqdm udls "cached-conv>=2.5.0" tensorboard \
    "setuptools>=77.0.3,<81" torch==2.13.0
  # setuptools<81 still ships pkg_resources, which lightning_fabric 1.9 imports; torch needs >=77.
  # The registry's torchaudio is a CUDA build whose compiled extension cannot load without CUDA;
  # RAVE only uses its pure-Python transforms.
  rm -f "$VENV"/lib/python3*/site-packages/torchaudio/lib/*.so
fi
"$VPY" -m pip install -q -e ".[dev]"
echo "$want" > "$stamp"
echo "bootstrap: ready ($VENV)"
