#!/usr/bin/env bash
# The test command of the README: prepares the host, then runs every test (unit and host).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
npm test
