// The tar writer: ustar headers whose checksum holds, pax headers for paths and
// link targets ustar cannot hold, whole 512-byte blocks.
import { describe, expect, it } from "vitest";
import { tarEnd, tarEntry } from "../../core/guest/tar.ts";

const meta = { mode: 0o644, mtimeS: 1_764_115_200, uid: 0, gid: 0 };
const text = (b: Uint8Array, from: number, length: number) =>
  new TextDecoder().decode(b.subarray(from, from + length)).replace(/\0.*$/s, "");

function checksumHolds(header: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : header[i]!;
  return Number.parseInt(text(header, 148, 8), 8) === sum;
}

describe("tar entries", () => {
  it("writes a file as a ustar header, its bytes and padding to a whole block", () => {
    const data = new TextEncoder().encode("hello\n");
    const blocks = tarEntry({ type: "file", path: "root/note.txt", data, ...meta });
    const [header, body, pad] = blocks;
    expect(text(header!, 0, 100)).toBe("root/note.txt");
    expect(text(header!, 257, 6)).toBe("ustar");
    expect(Number.parseInt(text(header!, 124, 12), 8)).toBe(6);
    expect(text(header!, 156, 1)).toBe("0");
    expect(checksumHolds(header!)).toBe(true);
    expect(body).toEqual(data);
    expect(body!.length + pad!.length).toBe(512);
  });

  it("marks directories and symlinks", () => {
    const [dir] = tarEntry({ type: "dir", path: "usr", ...meta, mode: 0o755 });
    expect(text(dir!, 0, 100)).toBe("usr/");
    expect(text(dir!, 156, 1)).toBe("5");
    const [link] = tarEntry({ type: "symlink", path: "bin", target: "usr/bin", ...meta, mode: 0o777 });
    expect(text(link!, 156, 1)).toBe("2");
    expect(text(link!, 157, 100)).toBe("usr/bin");
    expect(checksumHolds(link!)).toBe(true);
  });

  it("puts a path longer than ustar holds in a pax record whose length counts itself", () => {
    const path = `usr/${"very-long-directory-name/".repeat(8)}file.txt`;
    const blocks = tarEntry({ type: "file", path, data: new Uint8Array(1), ...meta });
    expect(text(blocks[0]!, 156, 1)).toBe("x");
    const record = new TextDecoder().decode(blocks[1]!);
    const length = Number(record.split(" ")[0]);
    expect(new TextEncoder().encode(record).length).toBe(length);
    expect(record).toBe(`${length} path=${path}\n`);
    expect(text(blocks[3]!, 156, 1)).toBe("0"); // the entry itself follows
    expect(blocks.reduce((n, b) => n + b.length, 0) % 512).toBe(0);
    expect(checksumHolds(blocks[0]!) && checksumHolds(blocks[3]!)).toBe(true);
    expect(tarEnd().length).toBe(1024);
  });
});
