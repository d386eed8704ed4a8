// The VM engine acceptance suite against both engines: the fake engine the
// runtime tests use, and the real one (web/vm-engine.ts over the worker's
// VmHost, run directly in Node) restoring the real guest image, served over HTTP.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { guestSourceOf, parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { createSignalingServer } from "../../signaling-server/server.ts";
import { createVmEngine } from "../../web/vm-engine.ts";
import { VmHost } from "../../worker/vm-host.ts";
import { fakeEngine } from "../integration/fake-engine.ts";
import { describeVmEngine } from "./vm-engine.suite.ts";

describeVmEngine("fake engine", async () => {
  const imageId = "fake-image";
  return { imageId, create: () => fakeEngine({ imageId }) };
});

describeVmEngine("v86 in the VM host", async () => {
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const manifest = parseGuestManifest(
    JSON.parse(readFileSync(join(root, "public/guest/manifest.json"), "utf8")),
  );
  const dir = mkdtempSync(join(tmpdir(), "spare-cycles-engine-"));
  symlinkSync(join(root, "public/guest"), join(dir, "guest"));
  symlinkSync(createRequire(import.meta.url).resolve("v86/build/v86.wasm"), join(dir, "v86.wasm"));
  const server = createSignalingServer({ port: 0, staticDir: dir });
  await server.ready;
  const base = server.address().url;
  const f = manifest.files;
  const guest = guestSourceOf(manifest, (file) => `${base}/guest/${file.path}`, `${base}/v86.wasm`);
  const image = {
    kind: "url" as const,
    url: `${base}/guest/${f.state.path}`,
    sha256: f.state.sha256,
    bytes: f.state.bytes,
    transcript: manifest.consoleTranscript,
    label: "The image's state",
  };
  return {
    imageId: manifest.imageId,
    create: () =>
      createVmEngine({
        images: [
          {
            imageId: manifest.imageId,
            guest: (memoryBytes) => ({ ...guest, memorySizeBytes: memoryBytes ?? guest.memorySizeBytes }),
            image,
          },
        ],
        createHost: () => {
          const host = new VmHost();
          return {
            start: (request, events) => host.start(request, events),
            api: host,
            dispose: () => host.destroy(),
          };
        },
      }),
    close: async () => {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});
