#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds (tests need the edgelog binary too) and runs every test,
# then checks the release build (scripts/release-check.sh) and the image built from it (scripts/image-check.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
swift build --build-tests
swift test --skip-build "$@"
# The shipped binary is optimized: check it too (see the script for why).
scripts/release-check.sh
# The image: that binary (linked with the static Swift standard library) in the Dockerfile's runtime stage, on a
# private Docker engine, run from the deployment templates the way IoT Edge runs it (see docs/image.md).
scripts/image-check.sh
