// The committed Debian guest image (public/guest-debian/) is what its
// SHA256SUMS, its manifest and its 9p index say: every file the index names is
// there, and unpacks to the contents its name (their SHA-256) promises.
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { decompress } from "fzstd";
import { describe, expect, it } from "vitest";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { listImageFiles, readImageSums } from "../helpers/guest-image-files.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const guestDir = join(root, "public/guest-debian");
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

const listFiles = () => listImageFiles(guestDir);
const sums = readImageSums(guestDir);
const manifest = parseGuestManifest(JSON.parse(readFileSync(join(guestDir, "manifest.json"), "utf8")));
const filesystem = manifest.filesystem!;

type Entry = [string, number, number, number, number, number, Entry[] | string];
const S_IFMT = 0o170000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Every entry of the index by its path. */
function entries(): Map<string, Entry> {
  const index = JSON.parse(readFileSync(join(guestDir, filesystem.index.path), "utf8"));
  expect(index.version).toBe(3);
  const out = new Map<string, Entry>();
  const visit = (list: Entry[], at: string) => {
    for (const entry of list) {
      const path = `${at}/${entry[0]}`;
      out.set(path, entry);
      if ((entry[3] & S_IFMT) === S_IFDIR) visit(entry[6] as Entry[], path);
    }
  };
  visit(index.fsroot, "");
  return out;
}

describe("public/guest-debian", () => {
  it("matches SHA256SUMS, which lists every file but the content-addressed ones", () => {
    const files = listFiles()
      .filter((f) => f !== "SHA256SUMS" && !f.startsWith(filesystem.filesDir))
      .sort();
    expect([...sums.keys()].sort()).toEqual(files);
    for (const [file, expected] of sums) {
      expect(sha256(readFileSync(join(guestDir, file))), file).toBe(expected);
    }
  });

  it("matches its manifest: every file's size and hash, and the state's", () => {
    for (const [name, entry] of [...Object.entries(manifest.files), ["index", filesystem.index] as const]) {
      const data = readFileSync(join(guestDir, entry.path));
      expect(data.length, name).toBe(entry.bytes);
      expect(sha256(data), name).toBe(entry.sha256);
      expect(sums.get(entry.path), name).toBe(entry.sha256);
    }
    const state = gunzipSync(readFileSync(join(guestDir, manifest.files.state.path)));
    expect(state.length).toBe(manifest.files.state.rawBytes);
    expect(manifest.files.state.transport?.rawSha256).toBe(sha256(state));
  });

  it("holds every file its index names, each unpacking to the contents its name promises", () => {
    const byName = new Map<string, number>();
    let contentBytes = 0;
    for (const [path, entry] of entries()) {
      if ((entry[3] & S_IFMT) !== S_IFREG) continue;
      const name = entry[6] as string;
      expect(name, path).toMatch(/^[0-9a-f]{64}\.zst$/);
      byName.set(name, entry[1]);
      contentBytes += entry[1];
    }
    expect(contentBytes).toBe(filesystem.contentBytes);
    const stored = readdirSync(join(guestDir, filesystem.filesDir)).sort();
    expect(stored).toEqual([...byName.keys()].sort()); // nothing missing, nothing extra
    for (const name of stored) {
      const data = decompress(readFileSync(join(guestDir, filesystem.filesDir, name)));
      expect(data.length, name).toBe(byName.get(name));
      expect(`${sha256(data)}.zst`).toBe(name);
    }
  });

  it("is a Debian root with python3, the shell's init and the offline package set", () => {
    const all = entries();
    const kind = (path: string) => (all.get(path)?.[3] ?? 0) & S_IFMT;
    expect(kind("/usr/bin/python3")).toBe(S_IFLNK);
    expect(kind("/usr/bin/python3.11")).toBe(S_IFREG);
    expect(kind("/usr/sbin/spare-init")).toBe(S_IFREG);
    expect((all.get("/usr/sbin/spare-init")![3] & 0o111) !== 0).toBe(true);
    expect(kind("/bin")).toBe(S_IFLNK); // merged /usr
    expect(kind("/var/lib/spare-debs/Packages")).toBe(S_IFREG);
    const debs = [...all.keys()].filter((p) => /^\/var\/lib\/spare-debs\/.+\.deb$/.test(p));
    expect(debs.some((p) => p.includes("/hello_"))).toBe(true);
    // Owned by root, as Debian installs it.
    expect(all.get("/usr/bin/python3.11")![4]).toBe(0);
  });

  it("was built from exactly the pinned packages", () => {
    const lock = readFileSync(join(root, "scripts/guest/debian/packages.lock"), "utf8");
    expect(readFileSync(join(guestDir, "packages.lock"), "utf8")).toBe(lock);
    const pins = lock.trim().split("\n");
    for (const pkg of ["python3-minimal", "busybox", "wget", "nano", "apt", "local:hello"])
      expect(
        pins.some((line) => line.startsWith(`${pkg}=`)),
        pkg,
      ).toBe(true);
    for (const line of pins) expect(line).toMatch(/^(local:)?[a-z0-9][a-z0-9+.-]*(:i386)?=[0-9][^\s]*$/);
  });

  it("was saved with the exact v86 version the app is pinned to, the small guest's kernel and more memory", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    expect(pkg.dependencies.v86).toBe(manifest.v86Version);
    const small = parseGuestManifest(
      JSON.parse(readFileSync(join(root, "public/guest/manifest.json"), "utf8")),
    );
    expect(manifest.files.bzimage.sha256).toBe(small.files.bzimage.sha256);
    expect(manifest.memorySizeBytes).toBeGreaterThan(small.memorySizeBytes);
  });
});
