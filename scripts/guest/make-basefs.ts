// Turns a root folder into what v86's 9p filesystem loads on demand: an index
// (v86's basefs JSON, format 3: every directory, file, symlink with its owner,
// mode and size) and the files' contents stored once each, named by the SHA-256
// of their contents and zstd-compressed (`<sha256>.zst`, which v86 unpacks as it
// reads them). A guest then downloads only the files it opens.
//
// Reproducible: entries sorted by name, mtimes clamped to SOURCE_DATE_EPOCH
// (files from packages keep theirs, so Python's cached bytecode still matches
// its sources; files made during the build get the epoch), zstd at a fixed level. Devices, sockets and FIFOs are
// left out (the guest's devtmpfs makes /dev); a hard link becomes a second copy
// of the same content-addressed file.
//
// usage: tsx scripts/guest/make-basefs.ts <root-dir> <out-dir>
//   writes <out-dir>/fs.json and <out-dir>/files/<sha256>.zst
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** v86's basefs entry: name, size, mtime, mode, uid, gid, then children, content name or link target. */
export type BasefsEntry = [string, number, number, number, number, number, BasefsEntry[] | string];

export interface BasefsIndex {
  version: 3;
  size: number;
  fsroot: BasefsEntry[];
}

export interface BasefsStats {
  entries: number;
  files: number;
  uniqueFiles: number;
  bytes: number;
  skipped: string[];
}

const ZSTD_LEVEL = 12;

function walk(
  dir: string,
  mtime: number,
  stats: BasefsStats,
  contents: Map<string, string>,
  relative = "",
): BasefsEntry[] {
  const out: BasefsEntry[] = [];
  for (const name of readdirSync(dir).sort()) {
    const full = join(dir, name);
    const rel = `${relative}/${name}`;
    const st = lstatSync(full);
    const type = st.mode & S_IFMT;
    const mode = st.mode & 0o177777;
    const at = Math.min(Math.floor(st.mtimeMs / 1000), mtime);
    if (type === S_IFDIR) {
      out.push([name, 0, at, mode, st.uid, st.gid, walk(full, mtime, stats, contents, rel)]);
    } else if (type === S_IFREG) {
      const data = readFileSync(full);
      const sha256 = createHash("sha256").update(data).digest("hex");
      if (!contents.has(sha256)) contents.set(sha256, full);
      stats.files++;
      stats.bytes += data.length;
      out.push([name, data.length, at, mode, st.uid, st.gid, `${sha256}.zst`]);
    } else if (type === S_IFLNK) {
      const target = readlinkSync(full);
      out.push([name, Buffer.byteLength(target), at, mode, st.uid, st.gid, target]);
    } else {
      stats.skipped.push(rel);
      continue;
    }
    stats.entries++;
  }
  return out;
}

/** Builds the index and the content-addressed files of `rootDir` into `outDir`. */
export function makeBasefs(rootDir: string, outDir: string, mtime: number): BasefsStats {
  const stats: BasefsStats = { entries: 0, files: 0, uniqueFiles: 0, bytes: 0, skipped: [] };
  const contents = new Map<string, string>();
  const fsroot = walk(rootDir, mtime, stats, contents);
  const filesDir = join(outDir, "files");
  mkdirSync(filesDir, { recursive: true });
  const todo: [string, string][] = [];
  for (const [sha256, source] of contents) {
    const target = join(filesDir, `${sha256}.zst`);
    if (!existsSync(target)) todo.push([source, target]);
  }
  // One zstd per batch of files (thousands of processes would take minutes).
  for (let i = 0; i < todo.length; i += 200) {
    for (const [source, target] of todo.slice(i, i + 200)) {
      execFileSync("zstd", ["-q", `-${ZSTD_LEVEL}`, "--no-progress", "-f", source, "-o", target]);
    }
  }
  stats.uniqueFiles = contents.size;
  const index: BasefsIndex = { version: 3, size: stats.bytes, fsroot };
  writeFileSync(join(outDir, "fs.json"), JSON.stringify(index));
  return stats;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [rootDir, outDir] = process.argv.slice(2);
  if (!rootDir || !outDir) {
    console.error("usage: make-basefs.ts <root-dir> <out-dir>");
    process.exit(2);
  }
  const mtime = Number(process.env.SOURCE_DATE_EPOCH ?? 1764115200);
  const stats = makeBasefs(rootDir, outDir, mtime);
  console.log(
    `basefs: ${stats.entries} entries, ${stats.files} files (${stats.uniqueFiles} unique), ${(stats.bytes / 1e6).toFixed(1)} MB; skipped ${stats.skipped.length} (${stats.skipped.slice(0, 5).join(", ")})`,
  );
}
