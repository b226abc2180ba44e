#!/bin/sh
# Installs the Debian packages dorefa needs, only those missing.
# Uses sudo when not run as root. Extra package names may be given as arguments.
set -e
PKGS="gcc make cmake pkg-config libopenblas-openmp-dev zlib1g-dev libpng-dev libjpeg-dev \
libcmocka-dev dataset-fashion-mnist clang libclang-rt-14-dev libomp-dev libopenmpi-dev openmpi-bin \
iproute2 openssh-client python3-numpy python3-torch python3-onnx $*"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
