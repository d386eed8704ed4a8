// Files into and out of the guest (worker/vm-host.ts in Node, real v86, the
// repo's image): an upload appears in /files with the same SHA-256, a file the
// guest makes downloads with the same SHA-256, both survive a snapshot, and what
// a hostile sender tries (paths, sizes, damaged or unfinished files) is refused.
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_FILE_BYTES, MAX_FILE_CHUNK_BYTES } from "../../core/vm/file-transfer.ts";
import type { VmHost } from "../../worker/vm-host.ts";
import { type GuestServer, type StartedHost, serveGuest, startHost } from "../helpers/guest-host.ts";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

async function upload(host: VmHost, name: string, data: Uint8Array): Promise<string> {
  const id = host.fileUploadBegin(name, data.length);
  for (let offset = 0; offset < data.length; offset += MAX_FILE_CHUNK_BYTES)
    host.fileUploadChunk(id, offset, data.subarray(offset, offset + MAX_FILE_CHUNK_BYTES));
  return host.fileUploadEnd(id, sha256(data));
}

async function download(host: VmHost, name: string): Promise<{ data: Uint8Array; sha256: string }> {
  const started = await host.fileDownloadBegin(name);
  const data = new Uint8Array(started.bytes);
  for (let offset = 0; offset < started.bytes; ) {
    const chunk = host.fileDownloadChunk(started.id, offset);
    data.set(chunk, offset);
    offset += chunk.length;
  }
  host.fileDownloadEnd(started.id);
  return { data, sha256: started.sha256 };
}

/** The guest's sha256sum of a file. */
async function guestSha(vm: StartedHost, path: string): Promise<string> {
  const out = await vm.run(`sha256sum ${path}`, 120_000);
  return /([0-9a-f]{64})/.exec(out)?.[1] ?? `no sum in ${JSON.stringify(out)}`;
}

let server: GuestServer;
let vm: StartedHost;
beforeAll(async () => {
  server = await serveGuest();
  vm = await startHost(server);
}, 120_000);
afterAll(async () => {
  await vm?.host.destroy();
  await server?.close();
});

describe("files in and out of the guest", () => {
  it("puts an uploaded file in /files with the same SHA-256", async () => {
    const data = new Uint8Array(randomBytes(3 * 1024 * 1024 + 17));
    expect(await upload(vm.host, "photo.bin", data)).toBe("photo.bin");
    expect(await guestSha(vm, "/files/photo.bin")).toBe(sha256(data));
    expect(vm.host.fileList()).toContainEqual({ name: "photo.bin", bytes: data.length });
    // The same name again does not replace the first.
    expect(await upload(vm.host, "photo.bin", new Uint8Array([1, 2, 3]))).toBe("photo (2).bin");
    expect(await guestSha(vm, "/files/photo.bin")).toBe(sha256(data));
  }, 180_000);

  it("downloads a file the guest made, with the same SHA-256", async () => {
    await vm.run("dd if=/dev/urandom of=/files/made.bin bs=1024 count=2100 2>/dev/null; sync", 120_000);
    const inGuest = await guestSha(vm, "/files/made.bin");
    const got = await download(vm.host, "made.bin");
    expect(got.data.length).toBe(2100 * 1024);
    expect(sha256(got.data)).toBe(inGuest);
    expect(got.sha256).toBe(inGuest);
  }, 180_000);

  it("answers a piece asked past a file's end with nothing, as a remote tab asks several at once", async () => {
    await vm.run("printf small > /files/small.txt");
    const started = await vm.host.fileDownloadBegin("small.txt");
    // A remote tab's first batch: pieces at 0, 60 KiB and 120 KiB of a 5-byte file.
    expect(new TextDecoder().decode(vm.host.fileDownloadChunk(started.id, 0, 60 * 1024))).toBe("small");
    expect(vm.host.fileDownloadChunk(started.id, 60 * 1024, 60 * 1024)).toHaveLength(0);
    expect(vm.host.fileDownloadChunk(started.id, 120 * 1024, 60 * 1024)).toHaveLength(0);
    expect(() => vm.host.fileDownloadChunk(started.id, -1)).toThrow(/no such piece/);
    vm.host.fileDownloadEnd(started.id);
  }, 60_000);

  it("keeps /files across a snapshot and restore", async () => {
    const data = new TextEncoder().encode("kept with the VM\n");
    await upload(vm.host, "note.txt", data);
    const snapshot = await vm.host.snapshot();
    const second = await startHost(server, {
      states: [{ kind: "bytes", bytes: snapshot.state, transcript: "", label: "saved" }],
    });
    try {
      expect(await second.run("cat /files/note.txt")).toContain("kept with the VM");
      expect(sha256((await download(second.host, "note.txt")).data)).toBe(sha256(data));
      // The guest still reads and writes /files after the restore.
      await second.run("echo after > /files/after.txt");
      expect(new TextDecoder().decode((await download(second.host, "after.txt")).data)).toBe("after\n");
    } finally {
      await second.host.destroy();
    }
  }, 180_000);

  it("keeps every name inside /files", async () => {
    expect(await upload(vm.host, "../../etc/passwd", new Uint8Array([65]))).toBe("passwd");
    expect(await upload(vm.host, "/root/.profile", new Uint8Array([66]))).toBe(".profile");
    expect(await upload(vm.host, "C:\\temp\\evil\u0000.txt", new Uint8Array([67]))).toBe("evil.txt");
    expect(() => vm.host.fileUploadBegin("..", 1)).toThrow(/not a file name/);
    expect(() => vm.host.fileUploadBegin("dir/", 1)).toThrow(/not a file name/);
    expect(await vm.run("head -c 20 /etc/passwd")).toContain("root:");
    expect(await vm.run("cat /files/passwd; echo")).toContain("A");
    // A download names a file in /files too: this is the uploaded "passwd", not the guest's.
    expect(new TextDecoder().decode((await download(vm.host, "../etc/passwd")).data)).toBe("A");
    await expect(vm.host.fileDownloadBegin("missing.txt")).rejects.toThrow(/no file \/files\/missing.txt/);
  }, 120_000);

  it("refuses files over the limit, damaged or unfinished ones, and shows none of them", async () => {
    expect(() => vm.host.fileUploadBegin("huge.iso", MAX_FILE_BYTES + 1)).toThrow(/files up to 64 MiB/);

    const damaged = vm.host.fileUploadBegin("damaged.bin", 4);
    vm.host.fileUploadChunk(damaged, 0, new Uint8Array([1, 2, 3, 4]));
    await expect(vm.host.fileUploadEnd(damaged, sha256(new Uint8Array([1, 2, 3, 5])))).rejects.toThrow(
      /SHA-256 differs/,
    );

    const short = vm.host.fileUploadBegin("short.bin", 10);
    vm.host.fileUploadChunk(short, 0, new Uint8Array(4));
    await expect(vm.host.fileUploadEnd(short, sha256(new Uint8Array(10)))).rejects.toThrow(/after 4 of 10/);

    const over = vm.host.fileUploadBegin("over.bin", 2);
    expect(() => vm.host.fileUploadChunk(over, 0, new Uint8Array(3))).toThrow(/more bytes than the file/);
    const gap = vm.host.fileUploadBegin("gap.bin", 8);
    expect(() => vm.host.fileUploadChunk(gap, 4, new Uint8Array(4))).toThrow(/expected byte 0/);

    const cancelled = vm.host.fileUploadBegin("cancelled.bin", 4);
    vm.host.fileUploadChunk(cancelled, 0, new Uint8Array(2));
    vm.host.fileUploadCancel(cancelled);
    expect(() => vm.host.fileUploadChunk(cancelled, 2, new Uint8Array(2))).toThrow(/no upload/);

    // Two at once at most, so a sender cannot make the host hold more.
    const a = vm.host.fileUploadBegin("a.bin", 1);
    const b = vm.host.fileUploadBegin("b.bin", 1);
    expect(() => vm.host.fileUploadBegin("c.bin", 1)).toThrow(/already under way/);
    vm.host.fileUploadCancel(a);
    vm.host.fileUploadCancel(b);

    const names = vm.host.fileList().map((f) => f.name);
    for (const name of ["huge.iso", "damaged.bin", "short.bin", "over.bin", "gap.bin", "cancelled.bin"])
      expect(names).not.toContain(name);
    expect(await vm.run("ls /files")).not.toContain("damaged");
  }, 120_000);

  it("holds the guest's own writes to /files to the file limit", async () => {
    await vm.run(`dd if=/dev/zero of=/files/big.bin bs=1M count=70 2>/dev/null; sync`, 300_000);
    const big = vm.host.fileList().find((f) => f.name === "big.bin");
    expect(big?.bytes).toBeLessThanOrEqual(MAX_FILE_BYTES);
    await vm.run("rm /files/big.bin");
  }, 300_000);
});
