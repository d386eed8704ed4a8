#!/usr/bin/env bash
# Builds the Debian guest image into public/guest-debian/: Debian 12 (bookworm)
# i386 from debootstrap's minbase with python3, wget, nano and busybox, plus a
# local set of packages apt installs from offline. The root filesystem becomes
# v86's 9p index and content-addressed files (make-basefs.ts), loaded as the
# guest opens them. It boots the small guest's kernel, with the small guest's
# initramfs given its own /init (mount the 9p root, switch to it). Then it boots
# the image in v86 under Node, saves the booted state and writes manifest.json
# and SHA256SUMS (save-debian-state.ts).
#
# Pinned: every installed package must match scripts/guest/debian/packages.lock
# (Package=Version), and the local set too; when the archive moves on, the build
# stops and says which changed (DEBIAN_UPDATE_LOCK=1 writes the new lock).
#
# Needs root (debootstrap, chroot) and debootstrap; runs on Debian bookworm.
# The outputs are committed, so a fresh clone never needs this script.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/public/guest-debian
WORK=${DEBIAN_WORK_DIR:-$ROOT/.cache/debian-build}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
LOCK=$ROOT/scripts/guest/debian/packages.lock
SMALL_GUEST=$ROOT/public/guest

INCLUDE=python3-minimal,busybox,wget,nano
# What `apt install` finds offline inside the guest (small, few dependencies).
LOCAL_SET=(hello tree jq libjq1 libonig5)
MEMORY_MIB=${DEBIAN_MEMORY_MIB:-256}
CMDLINE="console=ttyS0 quiet tsc=reliable mitigations=off random.trust_cpu=on cryptomgr.notests noisapnp nowatchdog initcall_blacklist=crypto_kdf108_init,load_system_certificate_list init_on_free=1"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-1764115200}

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
step() { printf '\n== %s\n' "$*"; }

step "debootstrap bookworm i386 (minbase + $INCLUDE)"
$SUDO rm -rf "$WORK" && mkdir -p "$WORK"
ROOTFS=$WORK/rootfs
$SUDO debootstrap --arch=i386 --variant=minbase --include="$INCLUDE" bookworm "$ROOTFS" "$MIRROR" > "$WORK/debootstrap.log"

step "the local package set: ${LOCAL_SET[*]}"
REPO=/var/lib/spare-debs
$SUDO cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf"
$SUDO chroot "$ROOTFS" apt-get update -q > /dev/null
$SUDO mkdir -p "$ROOTFS$REPO"
(cd "$ROOTFS$REPO" && $SUDO chroot "$ROOTFS" sh -c "cd $REPO && apt-get download -q ${LOCAL_SET[*]}" > /dev/null)
(cd "$ROOTFS$REPO" && dpkg-scanpackages --multiversion . /dev/null 2> /dev/null | $SUDO tee Packages > /dev/null)
echo "deb [trusted=yes] file:$REPO ./" | $SUDO tee "$ROOTFS/etc/apt/sources.list" > /dev/null
$SUDO rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb
$SUDO chroot "$ROOTFS" apt-get update -q > /dev/null

step "check the pins"
{
  $SUDO chroot "$ROOTFS" dpkg-query -W -f '${Package}=${Version}\n'
  for deb in "$ROOTFS$REPO"/*.deb; do
    echo "local:$(dpkg-deb -f "$deb" Package)=$(dpkg-deb -f "$deb" Version)"
  done
} | LC_ALL=C sort > "$WORK/packages.now"
if [ "${DEBIAN_UPDATE_LOCK:-0}" = 1 ]; then
  cp "$WORK/packages.now" "$LOCK"
  echo "wrote $LOCK"
elif ! diff -u "$LOCK" "$WORK/packages.now"; then
  echo "error: the archive's packages differ from $LOCK (above); rebuild with DEBIAN_UPDATE_LOCK=1 to take them" >&2
  exit 1
fi

step "Spare Cycles' own files, and a smaller tree"
$SUDO cp -a scripts/guest/debian/rootfs/. "$ROOTFS/"
for applet in httpd ping ip ifconfig route vi nc udhcpc; do
  $SUDO ln -sf /bin/busybox "$ROOTFS/usr/local/bin/$applet"
done
# Documentation apart from the copyright notices, manuals, translations, caches, logs.
$SUDO find "$ROOTFS/usr/share/doc" -type f ! -name copyright -delete
$SUDO find "$ROOTFS/usr/share/doc" -type l -delete
$SUDO rm -rf "$ROOTFS"/usr/share/{man,info,locale,lintian,linda} \
  "$ROOTFS"/var/cache/apt/*.bin "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/debconf/*-old \
  "$ROOTFS"/var/lib/dpkg/*-old "$ROOTFS"/var/log/* "$ROOTFS"/etc/resolv.conf \
  "$ROOTFS"/var/cache/ldconfig/aux-cache "$ROOTFS"/etc/hostname.orig
# glibc's iconv modules (8 MB): nothing here converts character sets through them.
$SUDO find "$ROOTFS/usr/lib/i386-linux-gnu/gconv" -name '*.so' -delete
$SUDO touch "$ROOTFS/etc/resolv.conf"
# Keep dpkg from putting the trimmed files back on `apt install`.
$SUDO tee "$ROOTFS/etc/dpkg/dpkg.cfg.d/spare-nodoc" > /dev/null <<'NODOC'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
NODOC

step "write public/guest-debian"
$SUDO rm -rf "$OUT" && mkdir -p "$OUT"
$SUDO npx tsx scripts/guest/make-basefs.ts "$ROOTFS" "$OUT"
INITRD_STAGE=$WORK/initrd
npx tsx scripts/guest/unpack-initrd.ts "$SMALL_GUEST/initrd.cpio.gz" "$INITRD_STAGE"
rm -rf "$INITRD_STAGE/etc" "$INITRD_STAGE/root" "$INITRD_STAGE/init"
cp scripts/guest/debian/initrd/init "$INITRD_STAGE/init"
chmod 755 "$INITRD_STAGE/init"
npx tsx scripts/guest/make-initrd.ts "$INITRD_STAGE" "$OUT/initrd.cpio.gz"
cp "$SMALL_GUEST/vmlinuz" "$SMALL_GUEST/bios.bin" "$SMALL_GUEST/vgabios.bin" "$OUT/"
cp "$WORK/packages.now" "$OUT/packages.lock"
$SUDO chown -R "$(id -u):$(id -g)" "$OUT"

step "boot in v86 under Node, save the state, write the manifest"
npx tsx scripts/guest/save-debian-state.ts "$OUT" "$MEMORY_MIB" "$CMDLINE"
du -sh "$OUT"
