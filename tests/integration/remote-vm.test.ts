// Remote VMs between peers in one process (in-memory transport, a fake engine
// that seals its state with the real VM key): placement within capacity, a
// superseded host stops at once, forged entries are ignored, a tampered
// checkpoint is refused in favour of the previous one, and a VM survives its
// host going away.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { createVmKey, exportVmKey, sealTo } from "../../core/crypto/vm-crypto.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import { PeerNode } from "../../core/peer/peer-node.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import { LEASE_KIND, leaseKey, VM_KIND, type VmRecord } from "../../core/state/vm-records.ts";
import { systemClock } from "../../core/util/clock.ts";
import { encodeVmMessage, VM_PROTOCOL } from "../../core/vm/vm-protocol.ts";
import { startVmServices, type VmServices } from "../../core/vm/vm-services.ts";
import { fakeEngine, running } from "./fake-engine.ts";

const IMAGE = "test-image";

interface Peer {
  identity: Identity;
  node: PeerNode;
  vm: VmServices;
  contributing: boolean;
  stores: { keys: MemoryStore; checkpoints: MemoryStore; replicas: MemoryStore };
  stop(): Promise<void>;
}

const peers: Peer[] = [];

afterEach(async () => {
  for (const p of peers.splice(0)) await p.stop();
  running.clear();
});

async function addPeer(
  hub: MemorySignalingHub,
  network: MemoryNetwork,
  options: { contributing?: boolean; slots?: number; identity?: Identity; stores?: Peer["stores"] } = {},
): Promise<Peer> {
  const identity = options.identity ?? (await createIdentity());
  const session = Math.random().toString(36).slice(2, 8);
  const info = { peer: peerAddress(identity.peerId, session), publicKey: identity.publicKey };
  const stores = options.stores ?? {
    keys: new MemoryStore(),
    checkpoints: new MemoryStore(),
    replicas: new MemoryStore(),
  };
  let vm: VmServices | null = null;
  const peer: Peer = {
    identity,
    contributing: options.contributing ?? false,
    stores,
    node: null as unknown as PeerNode,
    vm: null as unknown as VmServices,
    async stop() {
      await vm?.dispose();
      node.stop();
    },
  };
  const node = new PeerNode({
    identity,
    signaling: hub.connect(info),
    linkFactory: network.factory(info.peer),
    clock: systemClock,
    mesh: { targetDegree: 6, maxDegree: 12, maintainIntervalMs: 200 },
    presenceIntervalMs: 500,
    presence: () => ({
      name: "",
      appVersion: "test",
      capacity: {
        contributing: peer.contributing,
        cores: 2,
        memoryMiB: 4096,
        budgetPct: 50,
        slots: options.slots ?? 2,
      },
      load: { vms: vm?.host.count() ?? 0, usedPct: 0 },
    }),
  });
  node.start();
  vm = startVmServices(node, {
    clock: systemClock,
    createEngine: fakeEngine,
    ...stores,
    hostSettings: () => ({
      slots: options.slots ?? 2,
      memoryMiB: 4096,
      budgetPct: 50,
      checkpointIntervalMs: 300,
    }),
    imageId: IMAGE,
    memoryBytes: 96 * 1024 * 1024,
    isLeader: () => true,
    owner: { graceMs: 600, tickMs: 100, startTimeoutMs: 5000 },
  });
  vm.host.setAccepting(peer.contributing);
  vm.host.on("change", () => void node.publishPresence());
  peer.node = node;
  peer.vm = vm;
  peers.push(peer);
  return peer;
}

async function until(
  what: string,
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const start = Date.now();
  while (!(await condition())) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Everyone sees everyone's presence (so placement has candidates). */
async function settled(all: Peer[]): Promise<void> {
  await until("presence everywhere", async () => {
    for (const p of all) {
      const views = await p.node.peers();
      if (views.filter((v) => v.presence).length < all.length) return false;
    }
    return true;
  });
}

const hostOf = (owner: Peer, vmId: string) => owner.vm.owner.get(vmId)?.host ?? null;
const runningOn = (host: Peer, vmId: string) =>
  host.vm.host.vms().some((v) => v.vmId === vmId && v.state === "running");
const machineOf = (host: Peer, vmId: string) => host.vm.host.vms().find((v) => v.vmId === vmId);

function typeInto(owner: Peer, host: Peer, vmId: string, line: string): void {
  // The owner's console input, as a shell session sends it.
  const session = owner.vm.owner.attach(vmId, { output: () => {}, transcript: () => {}, status: () => {} });
  void until("attached", () => session.host() === host.node.self).then(async () => {
    await new Promise((r) => setTimeout(r, 100));
    session.input(new TextEncoder().encode(`${line}\r`));
  });
}

/** An owner and two contributors; the owner's VM `name` runs on `first`, `second` is free. */
async function ownerWithRunningVm(name: string) {
  const hub = new MemorySignalingHub();
  const network = new MemoryNetwork();
  const owner = await addPeer(hub, network);
  const a = await addPeer(hub, network, { contributing: true });
  const b = await addPeer(hub, network, { contributing: true });
  await settled([owner, a, b]);
  const vmId = await owner.vm.owner.create(name);
  await until("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const [first, second] = hostOf(owner, vmId) === a.node.self ? [a, b] : [b, a];
  return { hub, network, owner, vmId, first: first!, second: second! };
}

/** Takes a peer off the network for good. */
async function remove(peer: Peer): Promise<void> {
  await peer.stop();
  peers.splice(peers.indexOf(peer), 1);
}

describe("remote VMs", () => {
  it("places VMs only where there is room, and waits when there is none", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const a = await addPeer(hub, network, { contributing: true, slots: 1 });
    const b = await addPeer(hub, network, { contributing: true, slots: 1 });
    await settled([owner, a, b]);
    const first = await owner.vm.owner.create("one");
    await until("first runs", () => owner.vm.owner.get(first)?.state === "running");
    const second = await owner.vm.owner.create("two");
    await until("second runs", () => owner.vm.owner.get(second)?.state === "running");
    expect(new Set([hostOf(owner, first), hostOf(owner, second)])).toEqual(
      new Set([a.node.self, b.node.self]),
    );
    const third = await owner.vm.owner.create("three");
    await until("third waits", () => owner.vm.owner.get(third)?.state === "waiting");
    expect(a.vm.host.count()).toBe(1);
    expect(b.vm.host.count()).toBe(1);
    expect(owner.vm.owner.get(third)?.detail).toMatch(/waiting for a contributor/);
  });

  it("a host stops a VM at once when a newer lease moves it: never two live copies", async () => {
    const { owner, vmId, first: from, second: to } = await ownerWithRunningVm("mover");
    let maxLive = 0;
    const watch = setInterval(() => {
      maxLive = Math.max(maxLive, [from, to].filter((h) => runningOn(h, vmId)).length);
    }, 5);
    await owner.vm.owner.move(vmId);
    await until("moved", () => owner.vm.owner.get(vmId)?.state === "running" && runningOn(to, vmId));
    clearInterval(watch);
    expect(runningOn(from, vmId)).toBe(false);
    expect(maxLive).toBe(1);
    expect(owner.vm.owner.get(vmId)?.epoch).toBe(2);
  });

  it("ignores forged leases, VM records and checkpoint records", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const a = await addPeer(hub, network, { contributing: true });
    const mallory = await addPeer(hub, network, { contributing: true });
    const victim = await addPeer(hub, network, { contributing: true });
    await settled([owner, a, mallory, victim]);
    mallory.contributing = false; // keep the VM off Mallory's host
    await mallory.node.publishPresence();
    victim.contributing = false;
    await victim.node.publishPresence();
    await until("presence updated", async () => {
      const views = await owner.node.peers();
      return views.filter((v) => v.presence?.capacity.contributing).length === 1;
    });
    const vmId = await owner.vm.owner.create("target");
    await until("running on a", () => runningOn(a, vmId));
    const record = (await owner.vm.book.vm(vmId))!.vm;

    // 1. A lease that moves the VM to Mallory, signed by Mallory: the host keeps running.
    const forgedLease = await signEntry(mallory.identity, LEASE_KIND, {
      vmId,
      epoch: 99,
      host: mallory.node.self,
      issuedAt: Date.now(),
    });
    mallory.vm.book.leases.set(leaseKey(vmId, 99), forgedLease);
    // 2. A record claiming the VM for another owner, signed by Mallory.
    const forgedVm: VmRecord = {
      ...record,
      owner: mallory.identity.peerId,
      name: "stolen",
      updatedAt: Date.now() + 10,
    };
    mallory.vm.book.vms.set(vmId, await signEntry(mallory.identity, VM_KIND, forgedVm));
    await new Promise((r) => setTimeout(r, 500));
    expect(runningOn(a, vmId)).toBe(true);
    expect((await a.vm.book.currentLease(vmId, owner.identity.peerId))?.lease.epoch).toBe(1);
    // The forged record does not verify (the VM id is bound to its owner); the owner puts its own back.
    await until(
      "the owner's record is back",
      async () => (await a.vm.book.vm(vmId))?.vm.owner === owner.identity.peerId,
    );

    // 3. Mallory asks another contributor to start a VM under a lease Mallory signed for the owner's VM.
    victim.contributing = true;
    victim.vm.host.setAccepting(true);
    const key = await createVmKey();
    const lease = await signEntry(mallory.identity, LEASE_KIND, {
      vmId,
      epoch: 100,
      host: victim.node.self,
      issuedAt: Date.now(),
    });
    const sealed = await sealTo(
      victim.identity.box.publicKey,
      new TextEncoder().encode(await exportVmKey(key)),
      `vm-key/${vmId}/100`,
    );
    const fakeRecord = await signEntry(mallory.identity, VM_KIND, { ...record, updatedAt: Date.now() + 20 });
    mallory.node.mesh.pin(victim.node.self);
    await until("mallory linked to the victim", () => mallory.node.mesh.isOpen(victim.node.self));
    mallory.node.mesh
      .channel(VM_PROTOCOL)
      .send(victim.node.self, encodeVmMessage({ t: "start", vm: fakeRecord, lease, key: sealed, restore: [] }));
    await new Promise((r) => setTimeout(r, 500));
    expect(victim.vm.host.vms()).toEqual([]);

    // 4. A checkpoint record signed by someone other than the host of its epoch is not a checkpoint.
    const forgedCheckpoint = await signEntry(mallory.identity, "checkpoint/1", {
      vmId,
      epoch: 1,
      seq: 50,
      sha256: "0".repeat(64),
      bytes: 1,
      rawBytes: 1,
      host: a.node.self,
      holders: [mallory.node.self],
      createdAt: Date.now(),
      previous: null,
    });
    mallory.vm.book.checkpoints.set(`${vmId}/1`, forgedCheckpoint);
    await new Promise((r) => setTimeout(r, 200));
    expect((await owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId))?.record.seq ?? 0).not.toBe(50);
  });

  it("moves a VM whose host goes away, restoring its newest checkpoint", async () => {
    const { owner, vmId, first, second } = await ownerWithRunningVm("survivor");
    typeInto(owner, first, vmId, "set note kept-42");
    await until("a checkpoint after the write", async () => {
      const latest = await owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId);
      return !!latest && latest.record.seq >= 2 && (await owner.vm.owner.sealedSnapshot(vmId)) !== null;
    });
    await new Promise((r) => setTimeout(r, 400)); // one more checkpoint, so the write is surely in it
    await remove(first);
    await until("running on the other host", () => runningOn(second, vmId), 15_000);
    expect(owner.vm.owner.get(vmId)?.host).toBe(second.node.self);
    expect(owner.vm.owner.get(vmId)?.epoch).toBe(2);
    const engine = [...running].find((m) => m.running && m.files.note === "kept-42");
    expect(engine).toBeDefined();
  });

  it("resumes a VM whose host went away while its owner was offline, once the owner returns", async () => {
    const { hub, network, owner, vmId, first, second } = await ownerWithRunningVm("patient");
    typeInto(owner, first, vmId, "set note from-before");
    await until("a checkpoint with the note", async () => {
      const list = (await owner.stores.checkpoints.get(vmId)) as { seq: number }[] | undefined;
      return (list?.[0]?.seq ?? 0) >= 3;
    });
    // The owner closes its tab; then the host goes away too. Nobody moves the VM meanwhile.
    await remove(owner);
    await remove(first);
    await new Promise((r) => setTimeout(r, 1500));
    expect(second.vm.host.vms()).toEqual([]);
    // The owner comes back (same identity, same device storage).
    const back = await addPeer(hub, network, { identity: owner.identity, stores: owner.stores });
    await until("running again on the other host", () => runningOn(second, vmId), 15_000);
    expect(back.vm.owner.get(vmId)?.detail ?? "").toMatch(/while you were offline/);
    expect([...running].some((m) => m.running && m.files.note === "from-before")).toBe(true);
  });

  it("refuses a tampered checkpoint and restores the one before it", async () => {
    const { owner, vmId, first, second } = await ownerWithRunningVm("tampered");
    await until("two checkpoints held by the owner", async () => {
      const list = (await owner.stores.checkpoints.get(vmId)) as
        | { seq: number; entry: unknown }[]
        | undefined;
      return (list?.length ?? 0) >= 2 && list!.every((c) => c.entry);
    });
    // The host goes away (no more checkpoints); before the VM moves, every copy of the newest is damaged.
    await remove(first);
    const latest = (await owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId))!.record;
    const list = (await owner.stores.checkpoints.get(vmId)) as {
      epoch: number;
      seq: number;
      sealed: Uint8Array;
    }[];
    for (const c of list) if (c.seq === latest.seq) c.sealed[c.sealed.length - 1]! ^= 1;
    await owner.stores.checkpoints.set(vmId, list);
    for (const p of peers) {
      const key = `replica/${vmId}/${latest.epoch}/${latest.seq}`;
      const replica = (await p.stores.replicas.get(key)) as Uint8Array | undefined;
      if (!replica) continue;
      replica[replica.length - 1]! ^= 1;
      await p.stores.replicas.set(key, replica);
    }
    await until("running again", () => runningOn(second, vmId), 15_000);
    const hosted = machineOf(second, vmId)!;
    expect(hosted.detail).toMatch(new RegExp(`checkpoint 1\\.${latest.seq}: refused`));
  });
});
