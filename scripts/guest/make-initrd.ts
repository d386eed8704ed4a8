// Packs a staged root folder into a gzip-compressed cpio "newc" archive, the
// format the Linux kernel unpacks as its initramfs. Written here (rather than
// calling GNU cpio) so the archive is reproducible (fixed owner and mtime) and
// can hold /dev/console without running mknod as root.
//
// usage: tsx scripts/guest/make-initrd.ts <root-dir> <out.cpio.gz>
import { lstatSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { gzipSync } from "node:zlib";

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

interface Entry {
  name: string;
  mode: number;
  data: Buffer;
  rdevMajor?: number;
  rdevMinor?: number;
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

function pad4(length: number): Buffer {
  return Buffer.alloc((4 - (length % 4)) % 4);
}

function header(entry: Entry, ino: number, mtime: number): Buffer {
  const name = Buffer.from(`${entry.name}\0`);
  const fields = [
    ino,
    entry.mode,
    0, // uid
    0, // gid
    entry.mode & S_IFDIR ? 2 : 1, // nlink
    mtime,
    entry.data.length,
    0, // devmajor
    0, // devminor
    entry.rdevMajor ?? 0,
    entry.rdevMinor ?? 0,
    name.length,
    0, // check
  ];
  const head = Buffer.from(`070701${fields.map(hex8).join("")}`);
  const headAndName = Buffer.concat([head, name]);
  return Buffer.concat([headAndName, pad4(headAndName.length)]);
}

export function packCpio(entries: Entry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  entries.forEach((entry, i) => {
    parts.push(header(entry, i + 1, mtime), entry.data, pad4(entry.data.length));
  });
  const trailer: Entry = { name: "TRAILER!!!", mode: 0, data: Buffer.alloc(0) };
  parts.push(header(trailer, 0, 0));
  const archive = Buffer.concat(parts);
  // The kernel reads the archive in 512-byte blocks; pad like cpio does.
  return Buffer.concat([archive, Buffer.alloc((512 - (archive.length % 512)) % 512)]);
}

function walk(root: string): Entry[] {
  const entries: Entry[] = [];
  const visit = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const full = join(dir, name);
      const rel = relative(root, full);
      const st = lstatSync(full);
      if (st.isSymbolicLink()) {
        entries.push({ name: rel, mode: S_IFLNK | 0o777, data: Buffer.from(readlinkSync(full)) });
      } else if (st.isDirectory()) {
        entries.push({ name: rel, mode: S_IFDIR | (st.mode & 0o7777), data: Buffer.alloc(0) });
        visit(full);
      } else if (st.isFile()) {
        entries.push({ name: rel, mode: S_IFREG | (st.mode & 0o7777), data: readFileSync(full) });
      }
    }
  };
  visit(root);
  return entries;
}

function main(): void {
  const [root, out] = process.argv.slice(2);
  if (!root || !out) {
    console.error("usage: make-initrd.ts <root-dir> <out.cpio.gz>");
    process.exit(2);
  }
  const mtime = Number(process.env.SOURCE_DATE_EPOCH ?? 0);
  const entries = walk(root).filter((e) => e.name !== "dev");
  entries.unshift(
    { name: "dev", mode: S_IFDIR | 0o755, data: Buffer.alloc(0) },
    { name: "dev/console", mode: S_IFCHR | 0o600, data: Buffer.alloc(0), rdevMajor: 5, rdevMinor: 1 },
  );
  const cpio = packCpio(entries, mtime);
  writeFileSync(out, gzipSync(cpio, { level: 9 }));
  console.log(`initrd: ${entries.length} entries, ${cpio.length} bytes raw -> ${out}`);
}

main();
