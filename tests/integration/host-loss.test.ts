// Losing a host, and coming back to one, between peers in one process: a write
// is checkpointed (and held by someone else) a moment after the guest settles,
// not on the slow interval; a host that vanishes without a word is noticed and
// its VM answers on the other contributor with that write; an owner tab that
// comes back shows what the host reports, not a guess.
import { afterEach, describe, expect, it } from "vitest";
import { MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { eventually } from "../helpers/eventually.ts";
import { CrashableNetwork } from "./crashable-network.ts";
import {
  addPeer,
  hostOf,
  ownerHeld,
  type Peer,
  remove,
  runningOn,
  setFile,
  settled,
  stopAll,
} from "./vm-peers.ts";

afterEach(stopAll);

/** An owner and two contributors that checkpoint on activity only (their slow interval is ten minutes). */
async function crashRoom() {
  const hub = new MemorySignalingHub();
  const network = new CrashableNetwork();
  const slow = { checkpointIntervalMs: 600_000 };
  const owner = await addPeer(hub, network, slow);
  const a = await addPeer(hub, network, { contributing: true, ...slow });
  const b = await addPeer(hub, network, { contributing: true, ...slow });
  await settled([owner, a, b]);
  const vmId = await owner.vm.owner.create("crashy");
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const [first, second] = hostOf(owner, vmId) === a.node.self ? [a, b] : [b, a];
  return { hub, network, owner, vmId, first: first!, second: second! };
}

/** The newest checkpoint the owner holds with its signed record (what a move restores from). */
async function newestRecorded(owner: Peer, vmId: string): Promise<number> {
  const held = await ownerHeld(owner, vmId);
  return Math.max(0, ...held.filter((c) => c.entry).map((c) => c.seq));
}

/** Types `get NAME` into the VM's console wherever it runs now; resolves with what it printed. */
async function askFile(owner: Peer, vmId: string, name: string): Promise<string> {
  let out = "";
  const session = owner.vm.owner.attach(vmId, {
    output: (bytes) => {
      out += new TextDecoder().decode(bytes);
    },
    transcript: () => {},
    status: () => {},
  });
  try {
    await eventually(
      "the console answers",
      () => {
        session.input(new TextEncoder().encode(`get ${name}\r`));
        return out.includes(`${name}=`);
      },
      { timeoutMs: 15_000, intervalMs: 200 },
    );
    return out.slice(out.indexOf(`${name}=`)).split("\r")[0]!;
  } finally {
    session.detach();
  }
}

describe("losing a host", () => {
  it("checkpoints a write a moment after the guest settles, and counts it once the owner holds it", async () => {
    const { owner, vmId, first } = await crashRoom();
    const before = await newestRecorded(owner, vmId);
    const t0 = Date.now();
    await setFile(owner, first, vmId, "note", "settled");
    // With a ten-minute interval, only the guest's activity can have asked for this one.
    await eventually(
      "a recorded checkpoint after the write",
      async () => (await newestRecorded(owner, vmId)) > before,
      {
        timeoutMs: 5000,
      },
    );
    const tookMs = Date.now() - t0;
    expect(tookMs).toBeLessThan(5000);
    const shown = first.vm.host.vms().find((v) => v.vmId === vmId)?.lastCheckpoint;
    expect(shown?.overheadPct).toBeGreaterThanOrEqual(0);
    expect(shown?.overheadPct).toBeLessThanOrEqual(10);
  });

  it("a host that vanishes without a word: the VM answers on the other contributor with the last write", async () => {
    const { network, owner, vmId, first, second } = await crashRoom();
    const before = await newestRecorded(owner, vmId);
    await setFile(owner, first, vmId, "note", "just-before");
    await eventually("the write is checkpointed", async () => (await newestRecorded(owner, vmId)) > before, {
      timeoutMs: 5000,
    });
    const crashedAt = Date.now();
    network.crash(first.node.self);
    await eventually("the owner noticed", () => owner.vm.owner.get(vmId)?.host !== first.node.self, {
      timeoutMs: 15_000,
    });
    const detectMs = Date.now() - crashedAt;
    await eventually("running on the other contributor", () => runningOn(second, vmId), {
      timeoutMs: 15_000,
    });
    expect(await askFile(owner, vmId, "note")).toBe("note=just-before");
    const answerMs = Date.now() - crashedAt;
    // Detected from silence alone (no close, no goodbye): in about 2 s, and never before 1.5 s.
    expect(detectMs).toBeGreaterThanOrEqual(1500);
    expect(answerMs).toBeLessThan(10_000);
    expect(owner.vm.owner.get(vmId)?.epoch).toBe(2);
  });
});

describe("an owner tab that comes back", () => {
  it("shows the VM running on its host as soon as the host says so, without moving it", async () => {
    const hub = new MemorySignalingHub();
    const network = new CrashableNetwork();
    const owner = await addPeer(hub, network);
    const a = await addPeer(hub, network, { contributing: true });
    const b = await addPeer(hub, network, { contributing: true });
    await settled([owner, a, b]);
    const vmId = await owner.vm.owner.create("patient");
    await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
    const host = hostOf(owner, vmId);
    // The owner closes its tab; the VM keeps running on its host.
    await remove(owner);
    const back = await addPeer(hub, network, { identity: owner.identity, stores: owner.stores });
    const t0 = Date.now();
    const seen = new Set<string>();
    const off = back.vm.owner.on("change", () => {
      const s = back.vm.owner.get(vmId)?.state;
      if (s) seen.add(s);
    });
    await eventually(
      "running again in the returning tab",
      () => back.vm.owner.get(vmId)?.state === "running",
      {
        timeoutMs: 8000,
      },
    );
    off();
    const view = back.vm.owner.get(vmId)!;
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(view.host).toBe(host);
    expect(view.epoch).toBe(1); // not moved
    expect(view.reportedAt).not.toBeNull();
    expect(seen.has("moving")).toBe(false);
    expect(runningOn(a, vmId) || runningOn(b, vmId)).toBe(true);
  });
});
