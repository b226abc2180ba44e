#!/bin/sh
# Installs what the aarch64 cross build and its emulated tests need, only what is
# missing: Debian's cross compiler, qemu-user, and the arm64 -dev packages through
# multiarch (dpkg --add-architecture arm64). Uses sudo when not run as root.
set -e
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
PKGS="gcc-aarch64-linux-gnu qemu-user cmake make pkg-config libopenblas-openmp-dev:arm64 zlib1g-dev:arm64 \
libpng-dev:arm64 libjpeg-dev:arm64 libcmocka-dev:arm64 libgomp1:arm64"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "installing:$missing"
dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
