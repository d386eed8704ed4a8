// The guest images this checkout ships (public/guest/, public/guest-debian/)
// and v86's wasm, served on a loopback port to the VM threads: the worker code
// downloads by URL (fetch), as it does in the page. Only the files the manifests
// name are served; the Debian root's 9p files v86 reads from disk itself.
import { createReadStream, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import {
  type GuestManifest,
  guestSourceOf,
  parseGuestManifest,
  rootDiskBytes,
} from "../core/guest/guest-manifest.ts";
import type { EngineImage } from "../web/vm-engine.ts";
import type { GuestSource, StateSource } from "../worker/api.ts";

const publicDir = fileURLToPath(new URL("../public/", import.meta.url));

export interface GuestFiles {
  manifest: GuestManifest;
  guest: GuestSource;
  image: Extract<StateSource, { kind: "url" }>;
  /** Every image this host runs (the small guest first). */
  images: EngineImage[];
  close(): Promise<void>;
}

export function readGuestManifest(dir = "guest"): GuestManifest {
  return parseGuestManifest(JSON.parse(readFileSync(`${publicDir}${dir}/manifest.json`, "utf8")));
}

export async function serveGuestFiles(): Promise<GuestFiles> {
  const served = new Map<string, string>([
    ["/v86.wasm", createRequire(import.meta.url).resolve("v86/build/v86.wasm")],
  ]);
  const images: { dir: string; manifest: GuestManifest }[] = [];
  for (const dir of ["guest", "guest-debian"]) {
    const manifest = readGuestManifest(dir);
    const f = manifest.files;
    for (const file of [f.bios, f.vgaBios, f.bzimage, f.initrd, f.state])
      served.set(`/${dir}/${file.path}`, `${publicDir}${dir}/${file.path}`);
    images.push({ dir, manifest });
  }
  const server = createServer((req, res) => {
    const path = served.get(new URL(req.url ?? "/", "http://x").pathname);
    if (req.method !== "GET" || !path) {
      res.writeHead(404).end();
      return;
    }
    const type = path.endsWith(".wasm") ? "application/wasm" : "application/octet-stream";
    res.writeHead(200, { "content-type": type });
    createReadStream(path)
      .on("error", () => res.destroy())
      .pipe(res);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const engineImages: EngineImage[] = images.map(({ dir, manifest }) => {
    const f = manifest.files;
    const root = manifest.filesystem;
    const source = guestSourceOf(manifest, (file) => `${base}/${dir}/${file.path}`, `${base}/v86.wasm`);
    return {
      imageId: manifest.imageId,
      guest: (memoryBytes?: number): GuestSource => ({
        ...source,
        memorySizeBytes: memoryBytes ?? manifest.memorySizeBytes,
        // v86 in Node reads its 9p files from disk by path.
        ...(root && {
          root: {
            indexUrl: `${publicDir}${dir}/${root.index.path}`,
            filesUrl: `${publicDir}${dir}/${root.filesDir}`,
            diskBytes: rootDiskBytes(root),
          },
        }),
      }),
      image: {
        kind: "url",
        url: `${base}/${dir}/${f.state.path}`,
        sha256: f.state.sha256,
        bytes: f.state.bytes,
        transcript: manifest.consoleTranscript,
        label: "The image's saved state",
      },
    };
  });
  const small = engineImages[0]!;
  return {
    manifest: images[0]!.manifest,
    guest: small.guest(),
    image: small.image,
    images: engineImages,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
