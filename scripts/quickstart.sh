#!/usr/bin/env bash
# The README's quick start: prepares this Debian 12 host, then applies the bundled example,
# two tiny VMs on one bridge, waits until they have pinged each other, and shows the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-host.sh
kvmctl() { ./bin/run.js "$@"; }
kvmctl apply -f examples/quickstart.yaml --auto-approve --wait
kvmctl status -f examples/quickstart.yaml
state=${KVMCTL_STATE_DIR:-/var/lib/kvmctl}
echo
echo "What the guests printed on their serial consoles:"
grep -h 'KVMCTL-GUEST' "$state"/quickstart/vm-*/serial.log | tail -n 4
cat <<'NEXT'

Next steps:
  ./bin/run.js console alpha -f examples/quickstart.yaml     # Ctrl-] detaches
  ./bin/run.js plan -f examples/quickstart.yaml              # edit the file first to see a change
  ./bin/run.js destroy -f examples/quickstart.yaml           # removes the lab and nothing else
NEXT
