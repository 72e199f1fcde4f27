#!/usr/bin/env bash
# The test command of the README: prepares the host, then runs every test (unit and host).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
# The cloud-init tests boot a real Debian guest: 2-4 minutes to build the first time, then cached
# in ~/.cache/kvmctl. Only the tests need it, so the quick start does not wait for it.
test/fixtures/build-debian-guest.sh >/dev/null
npm test
