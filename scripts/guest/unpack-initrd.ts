// Unpacks a gzip-compressed cpio "newc" initramfs (as make-initrd.ts writes
// them) into a folder: directories, files and symlinks with their modes;
// device nodes are left out (make-initrd.ts adds /dev/console again). The
// Debian image starts from the small guest's initramfs this way, so both boot
// the same pinned kernel modules and busybox.
//
// usage: tsx scripts/guest/unpack-initrd.ts <initrd.cpio.gz> <out-dir>
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, normalize } from "node:path";
import { gunzipSync } from "node:zlib";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const pad4 = (n: number) => (4 - (n % 4)) % 4;

export function unpackInitrd(archive: Buffer, outDir: string): number {
  let at = 0;
  let count = 0;
  for (;;) {
    const magic = archive.toString("latin1", at, at + 6);
    if (magic !== "070701") throw new Error(`initrd: bad cpio header at ${at}`);
    const field = (i: number) =>
      Number.parseInt(archive.toString("latin1", at + 6 + i * 8, at + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = at + 110;
    const name = archive.toString("utf8", nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    const data = archive.subarray(dataStart, dataStart + size);
    at = dataStart + size + pad4(size);
    if (name === "TRAILER!!!") return count;
    const rel = normalize(name);
    if (rel.startsWith("..") || rel.startsWith("/"))
      throw new Error(`initrd: entry outside the root: ${name}`);
    const target = join(outDir, rel);
    const type = mode & S_IFMT;
    if (type === S_IFDIR) mkdirSync(target, { recursive: true, mode: mode & 0o7777 });
    else if (type === S_IFREG) {
      writeFileSync(target, data);
      chmodSync(target, mode & 0o7777);
    } else if (type === S_IFLNK) symlinkSync(data.toString("utf8"), target);
    else continue; // devices: made again by make-initrd.ts
    count++;
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [input, outDir] = process.argv.slice(2);
  if (!input || !outDir) {
    console.error("usage: unpack-initrd.ts <initrd.cpio.gz> <out-dir>");
    process.exit(2);
  }
  mkdirSync(outDir, { recursive: true });
  const count = unpackInitrd(gunzipSync(readFileSync(input)), outDir);
  console.log(`initrd: ${count} entries unpacked into ${outDir}`);
}
