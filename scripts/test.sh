#!/usr/bin/env bash
# Set up everything the tests need, then run them all. This is what CI runs (.ci/run).
#
# - System side (needs root, Debian): chromium (the HTML report is rendered headless), adb,
#   and the device rig: an emulated aarch64 Raspberry Pi over real SSH and an adb device
#   stand-in (rig/up.sh; about 5 min the first time on a machine, seconds when cached).
# - Python side: scripts/setup.sh (.venv with every backend).
# The rig builds in the background while pip installs (one is CPU-bound under emulation, the
# other mostly network). The rig is required: if it cannot start, this script fails.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/system_packages.sh
mkdir -p .rig
bash rig/up.sh > .rig/up.log 2>&1 &
rig_pid=$!
trap 'kill $rig_pid 2>/dev/null || true; bash rig/down.sh >/dev/null 2>&1 || true' EXIT
bash scripts/setup.sh
# The tests also cover the optional PyTorch -> TFLite route for torch modules without a Keras
# twin (litert-torch, +0.9 GB, ~30 s from PyPI); the quickstart does not need it.
echo "test: adding the optional extras edgekit[tflite-torch] and edgekit[sweep] (Ray) for their tests" >&2
.venv/bin/python -m pip --disable-pip-version-check -q install -e ".[tflite-torch,sweep]"
# ExecuTorch (+0.3 GB, ~40 s), ncnn (+0.1 GB, ~5 s) and PaddlePaddle (+0.7 GB, ~20 s): optional
# formats and sources with tests of their own; torch stays 2.13.0 (pinned by the constraint).
for extra in executorch ncnn paddle; do
  echo "test: adding the optional extra edgekit[$extra] for its tests" >&2
  .venv/bin/python -m pip --disable-pip-version-check -q install -e ".[$extra]" -c <(echo "torch==2.13.0")
done
if ! wait "$rig_pid"; then
  tail -n 30 .rig/up.log >&2
  echo "test: the device rig did not start (log: .rig/up.log)" >&2
  exit 1
fi
tail -n 1 .rig/up.log >&2
.venv/bin/python -m pytest "$@"
