// The committed guest image (public/guest/) is what its SHA256SUMS and manifest say.
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { listImageFiles, readImageSums } from "../helpers/guest-image-files.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
const guestDir = join(root, "public/guest");
const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

const listFiles = () => listImageFiles(guestDir);
const sums = readImageSums(guestDir);
const manifest = parseGuestManifest(JSON.parse(readFileSync(join(guestDir, "manifest.json"), "utf8")));

describe("public/guest", () => {
  it("matches SHA256SUMS, which lists every file", () => {
    const files = listFiles()
      .filter((f) => f !== "SHA256SUMS")
      .sort();
    expect([...sums.keys()].sort()).toEqual(files);
    for (const [file, expected] of sums) {
      expect(sha256(readFileSync(join(guestDir, file))), file).toBe(expected);
    }
  });

  it("matches its manifest: every file's size and hash", () => {
    for (const [name, entry] of Object.entries(manifest.files)) {
      const data = readFileSync(join(guestDir, entry.path));
      expect(data.length, name).toBe(entry.bytes);
      expect(sha256(data), name).toBe(entry.sha256);
      expect(sums.get(entry.path), name).toBe(entry.sha256);
    }
    const state = gunzipSync(readFileSync(join(guestDir, manifest.files.state.path)));
    expect(state.length).toBe(manifest.files.state.rawBytes);
    expect(manifest.memorySizeBytes).toBeGreaterThan(64 * 1024 * 1024 + manifest.files.initrd.bytes);
  });

  it("was saved with the exact v86 version the app is pinned to", () => {
    const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
    const installed = JSON.parse(readFileSync(join(root, "node_modules/v86/package.json"), "utf8"));
    expect(pkg.dependencies.v86).toBe(manifest.v86Version);
    expect(installed.version.split("+")[0]).toBe(manifest.v86Version);
  });

  it("names its Debian packages with versions, sources and licences", () => {
    const names = manifest.packages.map((p) => p.name);
    expect(names).toContain("seabios");
    expect(names).toContain("busybox-static");
    expect(names.some((n) => /^linux-image-.*-686-unsigned$/.test(n))).toBe(true);
    for (const p of manifest.packages) {
      expect(p.version).toMatch(/\d/);
      expect(existsSync(join(guestDir, p.licence)), p.licence).toBe(true);
    }
    const sources = readFileSync(join(guestDir, "SOURCES.md"), "utf8");
    for (const p of manifest.packages)
      expect(sources).toContain(`| ${p.name} | ${p.version} | ${p.source} |`);
  });
});
