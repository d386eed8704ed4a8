// The guest image this checkout ships (public/guest/) and v86's wasm, served on
// a loopback port to the VM threads: the worker code downloads by URL (fetch),
// as it does in the page. Only the files the manifest names are served.
import { createReadStream, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { type GuestManifest, guestSourceOf, parseGuestManifest } from "../core/guest/guest-manifest.ts";
import type { GuestSource, StateSource } from "../worker/api.ts";

const guestDir = fileURLToPath(new URL("../public/guest/", import.meta.url));

export interface GuestFiles {
  manifest: GuestManifest;
  guest: GuestSource;
  image: Extract<StateSource, { kind: "url" }>;
  close(): Promise<void>;
}

export function readGuestManifest(): GuestManifest {
  return parseGuestManifest(JSON.parse(readFileSync(`${guestDir}manifest.json`, "utf8")));
}

export async function serveGuestFiles(): Promise<GuestFiles> {
  const manifest = readGuestManifest();
  const f = manifest.files;
  const served = new Map<string, string>([
    ["/v86.wasm", createRequire(import.meta.url).resolve("v86/build/v86.wasm")],
  ]);
  for (const file of [f.bios, f.vgaBios, f.bzimage, f.initrd, f.state])
    served.set(`/guest/${file.path}`, `${guestDir}${file.path}`);
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
  return {
    manifest,
    guest: guestSourceOf(manifest, (file) => `${base}/guest/${file.path}`, `${base}/v86.wasm`),
    image: {
      kind: "url",
      url: `${base}/guest/${f.state.path}`,
      sha256: f.state.sha256,
      bytes: f.state.bytes,
      transcript: manifest.consoleTranscript,
      label: "The image's saved state",
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
