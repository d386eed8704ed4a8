// The Debian guest in the VM host (worker/vm-host.ts in Node, real v86, the
// repo's image; its state over HTTP from the real server, its 9p root read from
// the image's files): what the guest writes on its disk, and a file uploaded
// into /files, are in a sealed checkpoint and there again in a new host that
// restores it; the disk's size counts the image's files and what was added; and
// the whole disk downloads as a tar.gz that GNU tar reads (after apt installed
// a package: its empty lock files, restored from a state, failed the pack).

import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { guestSourceOf, parseGuestManifest, rootDiskBytes } from "../../core/guest/guest-manifest.ts";
import { createSignalingServer } from "../../signaling-server/server.ts";
import type { BaseSource, GuestSource, StateSource } from "../../worker/api.ts";
import type { VmHost } from "../../worker/vm-host.ts";
import { startHost } from "../helpers/guest-host.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const imageDir = join(root, "public/guest-debian");
const manifest = parseGuestManifest(JSON.parse(readFileSync(join(imageDir, "manifest.json"), "utf8")));
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

let server: Awaited<ReturnType<typeof createSignalingServer>>;
let dir: string;
let guest: GuestSource;
let image: Extract<StateSource, { kind: "url" }>;
let base: BaseSource;
const hosts: VmHost[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "spare-cycles-debian-"));
  symlinkSync(imageDir, join(dir, "guest-debian"));
  symlinkSync(createRequire(import.meta.url).resolve("v86/build/v86.wasm"), join(dir, "v86.wasm"));
  server = createSignalingServer({ port: 0, staticDir: dir });
  await server.ready;
  const url = server.address().url;
  const fs = manifest.filesystem!;
  guest = {
    ...guestSourceOf(manifest, (file) => `${url}/guest-debian/${file.path}`, `${url}/v86.wasm`),
    // v86 in Node reads the root's files from disk.
    root: {
      indexUrl: join(imageDir, fs.index.path),
      filesUrl: `${join(imageDir, fs.filesDir)}/`,
      diskBytes: rootDiskBytes(fs),
    },
  };
  const state = manifest.files.state;
  image = {
    kind: "url",
    url: `${url}/guest-debian/${state.path}`,
    sha256: state.sha256,
    bytes: state.bytes,
    transcript: manifest.consoleTranscript,
    label: "The image's state",
  };
  base = { url: image.url, sha256: image.sha256, bytes: image.bytes };
});

afterAll(async () => {
  for (const h of hosts) await h.destroy().catch(() => {});
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** A VM host restoring one of `states` (never booting from scratch), as the shared helper starts them. */
async function start(states: StateSource[]) {
  const vm = await startHost(
    { guest, imageState: image, close: async () => {} },
    { states, coldBoot: false },
  );
  hosts.push(vm.host);
  return vm;
}

describe("a Debian VM's disk", () => {
  it("keeps what the guest wrote and what was uploaded through a sealed checkpoint", async () => {
    const first = await start([image]);
    expect(await first.run(`python3 -c "print('py-' + str(6*7))"`)).toContain("py-42");
    expect(
      await first.run("apt-get install -y -q tree > /tmp/apt.log 2>&1; tree --version", 180_000),
    ).toMatch(/tree v\d/);
    await first.run("mkdir -p /srv/site && echo disk-$((40+2)) > /srv/site/index.html && sync");
    const data = new Uint8Array(randomBytes(300_000));
    const id = first.host.fileUploadBegin("upload.bin", data.length);
    first.host.fileUploadChunk(id, 0, data);
    expect(await first.host.fileUploadEnd(id, sha256(data))).toBe("upload.bin");
    expect(await first.run("sha256sum /files/upload.bin")).toContain(sha256(data));
    const disk = first.host.stats().diskBytes;
    expect(disk).toBeGreaterThanOrEqual(manifest.filesystem!.contentBytes + data.length);

    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
      "encrypt",
      "decrypt",
    ]);
    const context = "checkpoint/test/1/1";
    const sealed = await first.host.sealedCheckpoint(key, context, base);
    // A delta against the image: the written files and the changed memory, not the image again.
    expect(sealed.sealed.byteLength).toBeLessThan(5 * 1024 * 1024);
    await first.host.destroy();

    const second = await start([
      { kind: "sealed", bytes: sealed.sealed, key, context, base, transcript: "", label: "The checkpoint" },
    ]);
    expect(await second.run("cat /srv/site/index.html")).toContain("disk-42");
    expect(await second.run("sha256sum /files/upload.bin")).toContain(sha256(data));
    expect(second.host.fileList()).toContainEqual({ name: "upload.bin", bytes: data.length });
    expect(second.host.stats().diskBytes).toBe(disk);

    // The whole disk as one download: a tar.gz that GNU tar reads, with the image's files and the new ones.
    const started = await second.host.fileSnapshotBegin();
    expect(started.name).toMatch(/^disk-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.tar\.gz$/);
    const packed = new Uint8Array(started.bytes);
    for (let offset = 0; offset < started.bytes; ) {
      const chunk = second.host.fileDownloadChunk(started.id, offset);
      packed.set(chunk, offset);
      offset += chunk.length;
    }
    second.host.fileDownloadEnd(started.id);
    expect(sha256(packed)).toBe(started.sha256);
    const archive = join(dir, started.name);
    writeFileSync(archive, packed);
    const listing = execFileSync("tar", ["-tvzf", archive], { maxBuffer: 64 * 1024 * 1024 }).toString();
    expect(listing).toMatch(/^lrwxrwxrwx .* bin -> usr\/bin$/m);
    expect(listing).toMatch(/^-rwxr-xr-x 0\/0 .* usr\/bin\/python3\.11$/m);
    expect(listing).toMatch(/ files\/upload\.bin$/m);
    expect(listing).toMatch(/^-.* 0 .* var\/cache\/apt\/archives\/lock$/m);
    const out = join(dir, "unpacked");
    mkdirSync(out);
    execFileSync("tar", ["-xzf", archive, "-C", out, "srv", "files", "usr/sbin/spare-init"]);
    expect(readFileSync(join(out, "srv/site/index.html"), "utf8")).toBe("disk-42\n");
    expect(sha256(readFileSync(join(out, "files/upload.bin")))).toBe(sha256(data));
  }, 240_000);
});
