// A VM host's engine starts each VM from its own image: the record's image and
// memory decide the guest, the state to restore and what checkpoints are deltas
// against; a VM whose memory is not its image's saved state's boots from scratch
// (a state keeps its memory size), and an image the host lacks is refused.
import { describe, expect, it } from "vitest";
import { createVmEngine, type EngineImage, type HostHandle } from "../../web/vm-engine.ts";
import type { GuestSource, StartRequest } from "../../worker/api.ts";

const MiB = 1024 * 1024;

function image(imageId: string, memoryBytes: number): EngineImage {
  const guest = (memory?: number): GuestSource => ({
    wasmUrl: "v86.wasm",
    memorySizeBytes: memory ?? memoryBytes,
    cold: {
      biosUrl: "bios",
      vgaBiosUrl: "vga",
      bzimageUrl: "kernel",
      initrdUrl: "initrd",
      cmdline: "",
      sha256: { bios: "", vgaBios: "", bzimage: "", initrd: "" },
      expectedBootMs: 1000,
    },
  });
  return {
    imageId,
    guest,
    image: {
      kind: "url",
      url: `${imageId}/state`,
      sha256: imageId,
      bytes: 1,
      transcript: "",
      label: imageId,
    },
  };
}

function recordingHost(requests: StartRequest[]): () => HostHandle {
  return () => ({
    start: async (request) => {
      requests.push(request);
      return { mode: "restored" as const, restoredIndex: 0, problems: [], loadMs: 1, timingsMs: {} };
    },
    api: {
      input: () => {},
      sealedCheckpoint: () => ({
        sealed: new ArrayBuffer(0),
        rawBytes: 0,
        deltaBytes: 0,
        saveMs: 0,
        packMs: 0,
      }),
      transcript: () => "",
      setBudget: () => {},
      pause: () => {},
      resume: () => {},
      stats: () => {
        throw new Error("unused");
      },
    },
    dispose: async () => {},
  });
}

const start = { vmId: "0123456789abcdef0123456789abcdef", sealed: null, budgetPct: 50, onOutput: () => {} };
const images = [image("small", 96 * MiB), image("debian", 256 * MiB)];

describe("the VM engine's images", () => {
  it("restores a fresh VM from its own image's state when its memory is the state's", async () => {
    const requests: StartRequest[] = [];
    const engine = createVmEngine({ images, createHost: recordingHost(requests) });
    await engine.start({ ...start, imageId: "debian", memoryBytes: 256 * MiB });
    expect(requests[0]!.guest.memorySizeBytes).toBe(256 * MiB);
    expect(requests[0]!.states).toMatchObject([{ kind: "url", url: "debian/state" }]);
    expect(requests[0]!.coldBoot).toBe(false);
  });

  it("boots a fresh VM of another memory size from scratch, with that memory", async () => {
    const requests: StartRequest[] = [];
    const engine = createVmEngine({ images, createHost: recordingHost(requests) });
    await engine.start({ ...start, imageId: "debian", memoryBytes: 512 * MiB });
    expect(requests[0]!.guest.memorySizeBytes).toBe(512 * MiB);
    expect(requests[0]!.states).toEqual([]);
    expect(requests[0]!.coldBoot).toBe(true);
  });

  it("restores a checkpoint against its own image's state, whatever its memory", async () => {
    const requests: StartRequest[] = [];
    const engine = createVmEngine({ images, createHost: recordingHost(requests) });
    const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
    await engine.start({
      ...start,
      imageId: "small",
      memoryBytes: 96 * MiB,
      sealed: { bytes: new Uint8Array([1, 2, 3]), key, context: "checkpoint/x/1/1" },
    });
    expect(requests[0]!.states).toMatchObject([{ kind: "sealed", base: { url: "small/state" } }]);
    expect(requests[0]!.coldBoot).toBe(false);
  });

  it("refuses a VM whose image this host does not have", async () => {
    const requests: StartRequest[] = [];
    const engine = createVmEngine({ images, createHost: recordingHost(requests) });
    await expect(engine.start({ ...start, imageId: "alpine", memoryBytes: 96 * MiB })).rejects.toThrow(
      /does not have the VM's image/,
    );
    expect(requests).toEqual([]);
  });
});
