#!/usr/bin/env bash
# Installs what `npm run test:guest` needs on Debian 12 (as root): gcc + gcc-multilib for the guest
# test kernel, cpio for the initramfs, and the Linux guest built from Debian packages.
set -euo pipefail
cd "$(dirname "$0")/.."
# A mirror mid-sync can fail one index; what the other indexes give is enough for these packages.
apt-get update || echo "warning: apt-get update reported errors; continuing" >&2
apt-get install -y gcc gcc-multilib cpio
bash scripts/build-linux-image.sh
