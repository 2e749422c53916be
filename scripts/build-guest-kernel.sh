#!/usr/bin/env bash
# Builds the guest test kernel (test/guest/kernel/) into .guest/kernel/irqtest.elf with Debian's
# gcc and gcc-multilib (-m32, freestanding). Nothing built here is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
SRC=test/guest/kernel
OUT=.guest/kernel
command -v gcc >/dev/null || { echo "missing gcc: apt-get install -y gcc gcc-multilib" >&2; exit 2; }
echo 'int x;' | gcc -m32 -x c -c -o /dev/null - 2>/dev/null \
  || { echo "gcc cannot build -m32 code: apt-get install -y gcc-multilib" >&2; exit 2; }
mkdir -p "$OUT"
CFLAGS="-m32 -march=i686 -ffreestanding -fno-pic -fno-pie -fno-stack-protector -fno-builtin -nostdlib -O2 -Wall -Wextra -Werror"
gcc $CFLAGS -c "$SRC/start.S" -o "$OUT/start.o"
gcc $CFLAGS -c "$SRC/kernel.c" -o "$OUT/kernel.o"
gcc $CFLAGS -no-pie -Wl,--build-id=none -Wl,-z,max-page-size=0x1000 -Wl,--no-warn-rwx-segments -T "$SRC/link.ld" \
  "$OUT/start.o" "$OUT/kernel.o" -o "$OUT/irqtest.elf"
echo "== built $OUT/irqtest.elf ($(stat -c %s "$OUT/irqtest.elf") bytes)"
