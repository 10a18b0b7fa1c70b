#!/bin/sh
# Installs the Debian packages openkd needs, only when one is missing.
# One list, one place: docs/architecture.md section 3 names why each is here.
set -e
PKGS="build-essential cmake ninja-build pkg-config
libboost1.81-dev libboost-test1.81-dev
libssl-dev libfmt-dev libserialport-dev libedit-dev
libunicorn-dev libzydis-dev libcurl4-openssl-dev libmspack-dev
llvm-14-dev clang-14 lld-14 llvm-14 libclang-rt-14-dev
clang-16 libclang-rt-16-dev
pybind11-dev python3-dev python3-pytest python3-pytest-xdist python3-cryptography
socat openssl libpcap-dev zlib1g-dev tshark"
# `make bench` compares against gdb + QEMU and draws its chart (scripts/deps.sh bench).
[ "$1" = bench ] && PKGS="$PKGS qemu-system-x86 gdb python3-matplotlib"
missing=""
for p in $PKGS; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0
cmd="apt-get install -y --no-install-recommends$missing"
if [ "$(id -u)" != 0 ]; then
  echo "openkd: missing packages; run as root:" >&2
  echo "  apt-get update && $cmd" >&2
  exit 1
fi
echo "openkd: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
$cmd
