#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds (tests need the edgelog binary too) and runs every test.
# The rotation-under-a-writer end-to-end suite runs on its own after the rest: under the full parallel suite on
# 2 cores its rotation passes have been seen to stall (being investigated; see the README's known issues).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build --skip RotationEndToEndTests "$@"
swift test --skip-build --filter RotationEndToEndTests "$@"
# The shipped binary is optimized: check it too (see the script for why).
scripts/release-check.sh
