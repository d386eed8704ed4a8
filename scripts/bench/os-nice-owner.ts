// A VM owner in Node for the os_nice bench: it joins the room, earns its
// allowance (a stamp at the bench's lowered difficulty), creates a VM that
// placement puts on the headless contributor, and types into its shell.
import { readGuestManifest } from "../../contributor/guest-files.ts";
import { createIdentity } from "../../core/crypto/identity.ts";
import { searchStamp } from "../../core/ledger/stamp.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { systemClock } from "../../core/util/clock.ts";
import type { ShellSession } from "../../core/vm/shell-sessions.ts";
import { startVmServices, type VmServices } from "../../core/vm/vm-services.ts";
import { type NodePeer, startNodePeer } from "../../transports/node-peer.ts";

export interface BenchOwner {
  peer: NodePeer;
  services: VmServices;
  /** Creates a VM, waits until it runs, and attaches its shell; `output` is what the shell printed since. */
  createVm(
    name: string,
    timeoutMs: number,
  ): Promise<{ vmId: string; shell: ShellSession; output: () => string }>;
  stop(): Promise<void>;
}

/** Checks every 50 ms until `ready`; rejects after `timeoutMs`. */
async function until(
  what: string,
  timeoutMs: number,
  ready: () => boolean | Promise<boolean>,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await ready())) {
    if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export async function startBenchOwner(url: string, room: string, stampBits: number): Promise<BenchOwner> {
  const manifest = readGuestManifest();
  const identity = await createIdentity();
  const peer = startNodePeer({
    url,
    room,
    identity,
    stampBits,
    presence: () => ({
      name: "bench-owner",
      appVersion: "bench",
      capacity: { contributing: false, cores: 1, memoryMiB: 0, budgetPct: 0, slots: 0 },
      load: { vms: 0, usedPct: 0 },
    }),
  });
  // Passed on where the services take it (hosts that check balances).
  const stampOption = { stampBits };
  const services = startVmServices(peer.node, {
    ...stampOption,
    clock: systemClock,
    createEngine: () => {
      throw new Error("the bench owner hosts no VMs");
    },
    keys: new MemoryStore(),
    checkpoints: new MemoryStore(),
    replicas: new MemoryStore(),
    hostSettings: () => ({ slots: 0, memoryMiB: 0, budgetPct: 0, checkpointIntervalMs: 5000 }),
    imageId: manifest.imageId,
    memoryBytes: manifest.memorySizeBytes,
    isLeader: () => true,
  });
  const stamp = searchStamp(identity.publicKey, stampBits, 0, 1 << 30);
  if (!stamp) throw new Error("no stamp found");
  await peer.node.credits.publishStamp(stamp);
  const owner = services.owner;
  return {
    peer,
    services,
    async createVm(name, timeoutMs) {
      // Placement needs a contributor it can see.
      await until("a contributor in view", timeoutMs, async () =>
        (await peer.node.peers()).some((v) => v.presence?.capacity.contributing),
      );
      const vmId = await owner.create(name);
      await until(`VM ${name} running`, timeoutMs, () => owner.get(vmId)?.state === "running");
      let text = "";
      let attached = false;
      const shell = owner.attach(vmId, {
        output: (bytes) => {
          text += new TextDecoder().decode(bytes);
        },
        transcript: () => {
          attached = true;
        },
        status: () => {},
      });
      await until("the shell attached", timeoutMs, () => attached);
      return { vmId, shell, output: () => text };
    },
    async stop() {
      await services.dispose();
      peer.stop();
    },
  };
}
