#!/bin/sh
# Installs what the aarch64 cross build and its emulated tests need, only what is
# missing: Debian's cross compiler, qemu-user, and the arm64 -dev packages through
# multiarch (dpkg --add-architecture arm64), beside what scripts/install-deps.sh
# installs (which does the checking and installing). Uses sudo when not run as root.
set -e
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
exec sh "$(dirname "$0")/install-deps.sh" gcc-aarch64-linux-gnu qemu-user libopenblas-openmp-dev:arm64 \
    zlib1g-dev:arm64 libpng-dev:arm64 libjpeg-dev:arm64 libcmocka-dev:arm64 libgomp1:arm64
