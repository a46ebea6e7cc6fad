#!/usr/bin/env bash
# Set up everything the tests need, then run them all. What CI runs (.ci/run).
#
# - Python side: scripts/setup.sh (.venv with every backend).
# - System side (needs root, Debian): chromium for the report rendering test, and the device
#   rig (an emulated aarch64 Raspberry Pi over real SSH + an adb device stand-in; rig/up.sh).
# The rig is required: on CI (CI=true) a rig that cannot start fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/system_packages.sh
if [ -x rig/up.sh ]; then
  bash rig/up.sh
  trap 'bash rig/down.sh || true' EXIT
fi
.venv/bin/python -m pytest "$@"
