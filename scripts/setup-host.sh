#!/usr/bin/env bash
# Prepares a Debian 12 host for kvmctl and its tests, idempotently: Debian packages, npm
# dependencies, the build, and the tiny test guest. Run as root. A second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  qemu-system-x86 qemu-utils   # qemu-system-x86_64, qemu-img
  iproute2                     # ip (bridges, taps, netns)
  dnsmasq-base nftables        # DHCP and NAT for lab networks
  busybox-static cpio xz-utils zstd  # the tiny test guest
  socat                        # tests talk to serial consoles
  tcpdump                      # kvmctl capture
  genisoimage                  # cloud-init seeds
  ovmf                         # UEFI firmware for firmware: uefi and secure_boot
  swtpm                        # the TPM emulator for tpm: true
  openssh-client               # lab keys, ready: ssh, kvmctl ssh
  openssh-server               # sshd of the test cluster's hosts (labs that span hosts)
  python3-minimal              #   and their don't-fragment pings (raw sockets)
  debootstrap e2fsprogs        # the Debian cloud-init test guest,
  gdisk dosfstools mtools      #   and its GPT disk with an EFI system partition
  procps psmisc                # pgrep, fuser in tests
)
names=$(printf '%s\n' "${packages[@]}" | sed 's/#.*//' | tr ' ' '\n' | grep -v '^$')
missing=$(for p in $names; do dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'install ok installed' || echo "$p"; done)
if [ -n "$missing" ]; then
  [ "$(id -u)" = 0 ] || { echo "setup-host: installing $missing needs root" >&2; exit 1; }
  echo "setup-host: installing" $missing
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

node_major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
[ "$node_major" -ge 20 ] || { echo "setup-host: kvmctl needs Node.js 20 or newer (found: $(node --version 2>/dev/null || echo none))" >&2; exit 1; }

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
npm run build --silent >/dev/null
# apt lists are needed to download the guest's kernel; refresh them once when they are missing.
if [ -z "$(ls /var/lib/apt/lists/*_Packages 2>/dev/null | head -n1)" ]; then apt-get update -qq; fi
guests/tiny/build.sh examples/guest >/dev/null 2> >(grep -v 'unsandboxed' >&2)
echo "setup-host: ready ($(qemu-system-x86_64 --version | head -n1))"
