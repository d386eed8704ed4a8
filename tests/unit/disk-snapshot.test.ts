// The whole-disk pack (worker/disk-snapshot.ts) over a filesystem shaped like
// v86's: an empty file packs without being read (v86 keeps no data for one
// restored from a state, and its read_file says "File not found": apt's lock
// files broke every download after a move), and a file that cannot be read
// fails the pack with its path, without unhandled rejections from the files
// read ahead of it.
import { gunzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { type DiskFs, packDisk } from "../../worker/disk-snapshot.ts";

const DIR = 0o040755;
const FILE = 0o100644;

interface FakeInode {
  path: string;
  mode: number;
  data?: Uint8Array;
}

/** A filesystem of `nodes` (absolute paths), with v86's inode and lookup shape. */
function fakeFs(nodes: FakeInode[]): DiskFs {
  const all = [{ path: "/", mode: DIR }, ...nodes];
  return {
    inodes: all.map((n) => ({
      mode: n.mode,
      size: n.data?.length ?? 0,
      mtime: 1_764_115_200,
      uid: 0,
      gid: 0,
      symlink: "",
    })),
    SearchPath: (path) => ({ id: all.findIndex((n) => n.path === path) }),
    read_dir: (dir) => {
      const prefix = dir === "/" ? "/" : `${dir}/`;
      return all
        .filter(
          (n) => n.path !== "/" && n.path.startsWith(prefix) && !n.path.slice(prefix.length).includes("/"),
        )
        .map((n) => n.path.slice(prefix.length));
    },
  };
}

/** v86's read_file: a file's data, or "File not found" when it holds none. */
const readerOf = (nodes: FakeInode[]) => async (path: string) => {
  const data = nodes.find((n) => n.path === path)?.data;
  if (!data || data.length === 0) throw new Error("File not found");
  return data;
};

/** Names and sizes of a tar's entries (ustar headers, short names). */
function listTar(tar: Uint8Array): { name: string; bytes: number }[] {
  const out: { name: string; bytes: number }[] = [];
  const text = (from: number, length: number) =>
    new TextDecoder().decode(tar.subarray(from, from + length)).replace(/\0.*$/s, "");
  for (let at = 0; at + 512 <= tar.length && tar[at] !== 0; ) {
    const bytes = Number.parseInt(text(at + 124, 12), 8);
    out.push({ name: text(at, 100), bytes });
    at += 512 + Math.ceil(bytes / 512) * 512;
  }
  return out;
}

const unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);
beforeAll(() => process.on("unhandledRejection", onUnhandled));
afterAll(() => process.off("unhandledRejection", onUnhandled));
afterEach(() => {
  unhandled.length = 0;
});

describe("packing a VM's disk", () => {
  it("packs an empty file without reading it, next to the files it reads", async () => {
    const nodes: FakeInode[] = [
      { path: "/var", mode: DIR },
      { path: "/var/lock", mode: FILE, data: new Uint8Array(0) },
      { path: "/var/note", mode: FILE, data: new TextEncoder().encode("disk-42\n") },
    ];
    const packed = await packDisk(fakeFs(nodes), readerOf(nodes), 1 << 20);
    expect(listTar(gunzipSync(packed))).toEqual([
      { name: "var/", bytes: 0 },
      { name: "var/lock", bytes: 0 },
      { name: "var/note", bytes: 8 },
    ]);
  });

  it("fails with the path of a file it cannot read, leaving no rejection unhandled", async () => {
    const nodes: FakeInode[] = [{ path: "/a", mode: FILE, data: new Uint8Array([1]) }];
    for (let i = 0; i < 8; i++) nodes.push({ path: `/b${i}`, mode: FILE, data: new Uint8Array([2]) });
    const fs = fakeFs(nodes);
    // Every file fails: the first is awaited, the ones read ahead of it fail meanwhile.
    const failing = async (path: string) => {
      throw new Error(`cannot read ${path}`);
    };
    await expect(packDisk(fs, failing, 1 << 20)).rejects.toThrow("/a: cannot read /a");
    await new Promise((r) => setImmediate(r));
    expect(unhandled).toEqual([]);
  });
});
