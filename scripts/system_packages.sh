#!/usr/bin/env bash
# Debian packages the tests use: chromium (the HTML report is rendered headless) and adb
# (the real adb client talks to the rig's device stand-in), dataset-fashion-mnist and
# tuxpaint-stamps-default (real labelled images, photos, that `edgekit train` tests learn from).
# The rig installs its own (qemu...).
set -euo pipefail
need=()
command -v chromium >/dev/null || need+=(chromium)
command -v adb >/dev/null || need+=(adb)
command -v ssh >/dev/null || need+=(openssh-client)
[ -e /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] || need+=(dataset-fashion-mnist)
[ -d /usr/share/tuxpaint/stamps/animals/mammals ] || need+=(tuxpaint-stamps-default)
# --no-install-recommends leaves chromium without fonts: page text would render as boxes.
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "system_packages: need root to apt-get install ${need[*]}" >&2
    exit 1
  fi
  echo "system_packages: apt-get install ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
