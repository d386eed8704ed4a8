#!/usr/bin/env bash
# Builds the Spare Cycles guest image into public/guest/ from pinned Debian
# packages: SeaBIOS firmware, Debian's i386 kernel, busybox, and a few kernel
# modules (network, virtio console, 9p) for later work. Then boots it in v86
# under Node, saves the booted state and writes manifest.json and SHA256SUMS.
#
# Needs root (or sudo) for apt; runs on Debian bookworm. The outputs are
# committed, so a fresh clone never needs this script.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/public/guest
WORK=${GUEST_WORK_DIR:-$ROOT/.cache/guest-build}

# Exact package versions: the archive rotates kernel builds, so when one of these
# disappears, pick the new version with `apt-cache policy`, update it here and
# rebuild (the saved state changes with it).
KERNEL_ABI=6.1.0-50-686
PACKAGES=(
  "seabios=1.16.2-1"
  "linux-image-${KERNEL_ABI}-unsigned:i386=6.1.176-1"
  "busybox-static:i386=1:1.35.0-4+deb12u1+b1"
)
# Build tools only (not shipped): depmod writes modules.dep for busybox modprobe.
TOOLS=(
  "kmod=30+20221128-1"
  "libkmod2=30+20221128-1"
)
MEMORY_MIB=96
CMDLINE="console=ttyS0 quiet tsc=reliable mitigations=off random.trust_cpu=on cryptomgr.notests noisapnp nowatchdog initcall_blacklist=crypto_kdf108_init,load_system_certificate_list init_on_free=1"
MODULES=(
  8390 ne2k-pci
  virtio virtio_ring virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci
  failover net_failover virtio_net
  virtio_console
  9pnet 9pnet_virtio netfs fscache 9p
)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764115200}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo

step() { printf '\n== %s\n' "$*"; }

step "apt: i386 architecture and package lists"
if ! dpkg --print-foreign-architectures | grep -qx i386; then
  $SUDO dpkg --add-architecture i386
fi
# One index failing (e.g. bookworm-security i386 mid-sync) must not stop the
# build; the pinned packages are checked below.
$SUDO apt-get update -q || echo "warning: apt-get update reported errors; continuing, the pinned packages are checked next"

step "download pinned packages"
rm -rf "$WORK" && mkdir -p "$WORK/debs" "$WORK/x"
chmod 777 "$WORK/debs"
for spec in "${PACKAGES[@]}" "${TOOLS[@]}"; do
  if ! (cd "$WORK/debs" && apt-get download -q "$spec" >/dev/null); then
    echo "error: could not download $spec; the archive may have rotated it (see the pins at the top of $0)" >&2
    exit 1
  fi
done
for deb in "$WORK"/debs/*.deb; do
  name=$(dpkg-deb -f "$deb" Package)
  dpkg -x "$deb" "$WORK/x/$name"
done

step "assemble the root filesystem"
ROOTFS=$WORK/rootfs
KERNEL_DIR=$WORK/x/linux-image-${KERNEL_ABI}-unsigned
mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,etc,proc,sys,dev,tmp,run,root,mnt}
cp -a scripts/guest/rootfs/. "$ROOTFS/"
cp "$WORK/x/busybox-static/bin/busybox" "$ROOTFS/bin/busybox"
chmod 755 "$ROOTFS/bin/busybox" "$ROOTFS/init" "$ROOTFS/etc/udhcpc/default.script"
chmod 1777 "$ROOTFS/tmp"
chmod 700 "$ROOTFS/root"
for mod in "${MODULES[@]}"; do
  found=$(find "$KERNEL_DIR/lib/modules/$KERNEL_ABI/kernel" -name "$mod.ko" -print -quit)
  [ -n "$found" ] || { echo "error: module $mod.ko not in the kernel package" >&2; exit 1; }
  rel=${found#"$KERNEL_DIR"/}
  mkdir -p "$ROOTFS/$(dirname "$rel")"
  cp "$found" "$ROOTFS/$rel"
done
cp "$KERNEL_DIR/lib/modules/$KERNEL_ABI"/modules.{builtin,builtin.modinfo,order} "$ROOTFS/lib/modules/$KERNEL_ABI/"
ln -sf "$WORK/x/kmod/bin/kmod" "$WORK/depmod"
LD_LIBRARY_PATH="$WORK/x/libkmod2/usr/lib/x86_64-linux-gnu" "$WORK/depmod" -b "$ROOTFS" "$KERNEL_ABI"

step "write public/guest"
rm -rf "$OUT" && mkdir -p "$OUT/licences"
cp "$WORK/x/seabios/usr/share/seabios/bios.bin" "$OUT/bios.bin"
cp "$WORK/x/seabios/usr/share/seabios/vgabios-stdvga.bin" "$OUT/vgabios.bin"
cp "$KERNEL_DIR/boot/vmlinuz-$KERNEL_ABI" "$OUT/vmlinuz"
npx tsx scripts/guest/make-initrd.ts "$ROOTFS" "$OUT/initrd.cpio.gz"

: > "$WORK/packages.tsv"
for spec in "${PACKAGES[@]}"; do
  pkg=${spec%%=*}; pkg=${pkg%%:*}
  deb=$(ls "$WORK"/debs/"${pkg}"_*.deb)
  version=$(dpkg-deb -f "$deb" Version)
  arch=$(dpkg-deb -f "$deb" Architecture)
  source=$(dpkg-deb -f "$deb" Source); source=${source:-$pkg}
  licence="licences/$pkg.copyright"
  cp "$WORK/x/$pkg/usr/share/doc/$pkg/copyright" "$OUT/$licence"
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$pkg" "$version" "$arch" "$source" \
    "$(sha256sum "$deb" | cut -d' ' -f1)" "$licence" >> "$WORK/packages.tsv"
done
cat > "$OUT/SOURCES.md" <<SOURCES
# Guest image sources

Built by \`scripts/build-guest-image.sh\` from these Debian bookworm binary packages.
Their sources are the Debian source packages named below (\`apt-get source <name>=<version>\`,
or https://sources.debian.org/src/<name>/<version>/). Licences are in \`licences/\`.

| binary package | version | source package |
| --- | --- | --- |
$(awk -F'\t' '{printf "| %s | %s | %s |\n", $1, $2, $4}' "$WORK/packages.tsv")

\`init\`, \`/etc\` and the build scripts are Spare Cycles' own (scripts/guest/).
SOURCES

step "boot in v86 under Node, save the state, write the manifest"
npx tsx scripts/guest/save-state.ts "$OUT" "$WORK/packages.tsv" "$MEMORY_MIB" "$CMDLINE"
ls -la "$OUT"
