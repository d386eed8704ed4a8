// Files into and out of a VM, the shared rules: names stay in /files, uploads
// are whole and checked before anyone sees them, and the files channel's
// messages from a hostile peer parse to null.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { encodeFileMessage, parseFileMessage } from "../../core/vm/file-protocol.ts";
import {
  freeFileName,
  guestFileName,
  MAX_FILE_BYTES,
  TransferTable,
  UploadBuffer,
} from "../../core/vm/file-transfer.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
const VM = "a".repeat(32);

describe("file names in /files", () => {
  it("keeps only the last part of any path, without control characters", () => {
    expect(guestFileName("report.pdf")).toBe("report.pdf");
    expect(guestFileName("../../etc/shadow")).toBe("shadow");
    expect(guestFileName("/etc/passwd")).toBe("passwd");
    expect(guestFileName("C:\\Users\\me\\a.txt")).toBe("a.txt");
    expect(guestFileName("bad\u0000name\n.txt")).toBe("badname.txt");
    expect(guestFileName("x".repeat(500))).toHaveLength(120);
  });

  it("refuses names that are no file", () => {
    for (const name of ["", ".", "..", "dir/", "a/..", " \t "])
      expect(() => guestFileName(name)).toThrow(/not a file name/);
  });

  it("never replaces a file: a taken name gets a number", () => {
    const taken = new Set(["a.txt", "a (2).txt", "README"]);
    expect(freeFileName("a.txt", (n) => taken.has(n))).toBe("a (3).txt");
    expect(freeFileName("README", (n) => taken.has(n))).toBe("README (2)");
    expect(freeFileName("new.bin", (n) => taken.has(n))).toBe("new.bin");
  });
});

describe("an upload put together", () => {
  it("gives the file only when every byte is in and the SHA-256 matches", async () => {
    const data = new Uint8Array([1, 2, 3, 4, 5]);
    const upload = new UploadBuffer("f", 5);
    upload.write(0, data.subarray(0, 2));
    await expect(upload.finish(sha256(data))).rejects.toThrow(/after 2 of 5 bytes/);
    upload.write(2, data.subarray(2));
    await expect(upload.finish(sha256(new Uint8Array(5)))).rejects.toThrow(/SHA-256 differs/);
    expect(await upload.finish(sha256(data))).toEqual(data);
  });

  it("refuses sizes past the limit, pieces out of order and bytes past the end", () => {
    expect(() => new UploadBuffer("f", MAX_FILE_BYTES + 1)).toThrow(/files up to 64 MiB/);
    expect(() => new UploadBuffer("f", -1)).toThrow(/not a file size/);
    const upload = new UploadBuffer("f", 4);
    expect(() => upload.write(1, new Uint8Array(1))).toThrow(/expected byte 0/);
    expect(() => upload.write(0, new Uint8Array(5))).toThrow(/more bytes than the file has/);
  });

  it("holds at most two transfers at once", () => {
    const table = new TransferTable<string>("upload");
    const a = table.add("a");
    table.add("b");
    expect(() => table.add("c")).toThrow(/already under way/);
    table.delete(a);
    expect(table.add("c")).toBeGreaterThan(a);
    expect(() => table.get(a)).toThrow(/no upload/);
  });
});

describe("the files channel", () => {
  it("round-trips requests and answers, pieces included", () => {
    const chunk = new Uint8Array([9, 8, 7]);
    const request = { t: "req", rq: 1, vmId: VM, op: "uploadChunk", transfer: 2, offset: 0, chunk } as const;
    expect(parseFileMessage(encodeFileMessage(request))).toEqual(request);
    const answer = { t: "res", rq: 1, ok: true, value: null, chunk } as const;
    expect(parseFileMessage(encodeFileMessage(answer))).toEqual(answer);
    const refused = { t: "res", rq: 3, ok: false, error: "no" } as const;
    expect(parseFileMessage(encodeFileMessage(refused))).toEqual(refused);
    const snapshot = { t: "req", rq: 4, vmId: VM, op: "snapshotBegin" } as const;
    expect(parseFileMessage(encodeFileMessage(snapshot))).toEqual(snapshot);
  });

  it("parses what a hostile peer sends to null", () => {
    const raw = (header: unknown, body = new Uint8Array(0)) => {
      const json = new TextEncoder().encode(JSON.stringify(header));
      const out = new Uint8Array(4 + json.length + body.length);
      new DataView(out.buffer).setUint32(0, json.length);
      out.set(json, 4);
      out.set(body, 4 + json.length);
      return out;
    };
    const base = { t: "req", rq: 1, vmId: VM };
    const hostile = [
      new Uint8Array(0),
      new Uint8Array([0xff, 0xff, 0xff, 0xff, 1]),
      raw({ ...base, op: "rm -rf" }),
      raw({ ...base, vmId: "../x", op: "list" }),
      raw({ ...base, op: "uploadBegin", name: "a", bytes: MAX_FILE_BYTES + 1 }),
      raw({ ...base, op: "uploadBegin", name: "a", bytes: -1 }),
      raw({ ...base, op: "uploadChunk", transfer: 1, offset: 0 }),
      raw({ ...base, op: "uploadEnd", transfer: 1, sha256: "zz" }),
      raw({ ...base, op: "downloadChunk", transfer: 1, offset: -5, maxBytes: 10 }),
      raw({ ...base, rq: "1", op: "list" }),
      raw({ t: "res", rq: 1, ok: "yes" }),
      raw({ ...base, op: "snapshotBegin" }, new Uint8Array([1])),
      new Uint8Array(2 * 1024 * 1024),
    ];
    for (const payload of hostile) expect(parseFileMessage(payload)).toBeNull();
  });
});
