#!/usr/bin/env bash
# Builds the i386 Linux guest for `npm run test:guest` from Debian packages (root, Debian 12):
#   .guest/linux/bzImage         the kernel of linux-image-686 (non-PAE), resolved to its version
#   .guest/linux/initramfs.cpio.gz  busybox-static:i386 plus an /init that prints a marker and
#                                /proc/interrupts twice, one second apart, then powers off.
# Nothing here is committed: the images are rebuilt from the Debian archive.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=.guest/linux
mkdir -p "$OUT/debs"
OUT=$(cd "$OUT" && pwd)

need() { command -v "$1" >/dev/null || { echo "missing $1: apt-get install -y $2" >&2; exit 2; }; }
need cpio cpio
need gzip gzip
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  dpkg --add-architecture i386
fi
# A mirror mid-sync fails one index now and then; the packages below still resolve from the rest.
apt-get update || echo "warning: apt-get update reported errors; trying with the indexes it got" >&2

# linux-image-686 is a metapackage: its Depends names the versioned kernel package.
kpkg=$(apt-cache depends linux-image-686:i386 | awk '/Depends: linux-image-[0-9]/ { sub(/:i386$/, "", $2); print $2; exit }')
[ -n "$kpkg" ] || { echo "cannot resolve linux-image-686 to a kernel package" >&2; exit 1; }
echo "== kernel package: $kpkg"
cd "$OUT/debs"
rm -f ./*.deb
apt-get download "$kpkg:i386" busybox-static:i386
cd "$OUT"
rm -rf kernel-root initramfs
mkdir kernel-root
dpkg-deb -x debs/linux-image-*.deb kernel-root
cp kernel-root/boot/vmlinuz-* bzImage

mkdir -p initramfs/bin initramfs/proc initramfs/sys initramfs/dev
dpkg-deb -x debs/busybox-static_*.deb busybox-root
cp busybox-root/bin/busybox initramfs/bin/busybox
rm -rf busybox-root
cat > initramfs/init <<'INIT'
#!/bin/busybox sh
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
echo "IRQCHIP-GUEST-MARKER: userspace up"
echo "== /proc/interrupts (1)"
/bin/busybox cat /proc/interrupts
/bin/busybox sleep 1
echo "== /proc/interrupts (2)"
/bin/busybox cat /proc/interrupts
echo "IRQCHIP-GUEST-DONE"
/bin/busybox poweroff -f
INIT
chmod +x initramfs/init
(cd initramfs && find . | cpio -o -H newc --quiet | gzip -9) > initramfs.cpio.gz
rm -rf kernel-root
echo "== built $OUT/bzImage ($(stat -c %s bzImage) bytes), $OUT/initramfs.cpio.gz ($(stat -c %s initramfs.cpio.gz) bytes)"
