// Remote VMs between peers in one process (in-memory transport, a fake engine
// that seals its state with the real VM key): placement within capacity, a
// superseded host stops at once, forged entries are ignored, a tampered
// checkpoint is refused in favour of the previous one, and a VM survives its
// host going away.
import { afterEach, describe, expect, it } from "vitest";
import { signEntry } from "../../core/crypto/signed.ts";
import { createVmKey, exportVmKey, sealTo } from "../../core/crypto/vm-crypto.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import { leaseSlot } from "../../core/state/vm-book.ts";
import { LEASE_KIND, VM_KIND, type VmRecord } from "../../core/state/vm-records.ts";
import { encodeVmMessage, VM_PROTOCOL } from "../../core/vm/vm-protocol.ts";
import { eventually } from "../helpers/eventually.ts";
import { running } from "./fake-engine.ts";
import {
  addPeer,
  engines,
  hostOf,
  nextVmMessage,
  type Peer,
  peers,
  remove,
  runningOn,
  setFile,
  settled,
  stopAll,
} from "./vm-peers.ts";

const machineOf = (host: Peer, vmId: string) => host.vm.host.vms().find((v) => v.vmId === vmId);

/** The newest checkpoint the owner holds a sealed copy of. */
async function ownerHolds(owner: Peer, vmId: string): Promise<number> {
  const list = (await owner.stores.checkpoints.get(vmId)) as { seq: number }[] | undefined;
  return list?.[0]?.seq ?? 0;
}

/**
 * Waits until the owner holds a checkpoint taken after now: two more than it holds
 * now (the next one may have been under way already).
 */
async function checkpointedFromNow(owner: Peer, vmId: string): Promise<void> {
  const now = await ownerHolds(owner, vmId);
  await eventually(
    "a checkpoint taken after the write",
    async () => (await ownerHolds(owner, vmId)) >= now + 2,
  );
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
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const [first, second] = hostOf(owner, vmId) === a.node.self ? [a, b] : [b, a];
  return { hub, network, owner, vmId, first: first!, second: second! };
}

afterEach(stopAll);

describe("remote VMs", () => {
  it("places VMs only where there is room, and waits when there is none", async () => {
    const hub = new MemorySignalingHub();
    const network = new MemoryNetwork();
    const owner = await addPeer(hub, network);
    const a = await addPeer(hub, network, { contributing: true, slots: 1 });
    const b = await addPeer(hub, network, { contributing: true, slots: 1 });
    await settled([owner, a, b]);
    const first = await owner.vm.owner.create("one");
    await eventually("first runs", () => owner.vm.owner.get(first)?.state === "running");
    const second = await owner.vm.owner.create("two");
    await eventually("second runs", () => owner.vm.owner.get(second)?.state === "running");
    expect(new Set([hostOf(owner, first), hostOf(owner, second)])).toEqual(
      new Set([a.node.self, b.node.self]),
    );
    const third = await owner.vm.owner.create("three");
    await eventually("third waits", () => owner.vm.owner.get(third)?.state === "waiting");
    expect(a.vm.host.count()).toBe(1);
    expect(b.vm.host.count()).toBe(1);
    // Full hosts are asked too (one may give a slot to an owner in better standing); both said no.
    expect(owner.vm.owner.get(third)?.detail).toMatch(/no contributor took it; .*no free slot/);
  });

  it("a host stops a VM at once when a newer lease moves it: never two live copies", async () => {
    const { owner, vmId, first: from, second: to } = await ownerWithRunningVm("mover");
    expect(engines.live).toBe(1);
    await owner.vm.owner.move(vmId);
    await eventually("moved", () => owner.vm.owner.get(vmId)?.state === "running" && runningOn(to, vmId));
    // Counted at every engine start and stop (one VM here): never two running at once.
    expect(engines.maxLive).toBe(1);
    expect(engines.created.get(to.node.self)).toBe(1);
    expect(runningOn(from, vmId)).toBe(false);
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
    await eventually("presence updated", async () => {
      const views = await owner.node.peers();
      return views.filter((v) => v.presence?.capacity.contributing).length === 1;
    });
    const vmId = await owner.vm.owner.create("target");
    await eventually("running on a", () => runningOn(a, vmId));
    const record = (await owner.vm.book.vm(vmId))!.vm;

    // 1. A lease that moves the VM to Mallory, signed by Mallory: the host keeps running.
    const forgedLease = await signEntry(mallory.identity, LEASE_KIND, {
      vmId,
      epoch: 99,
      host: mallory.node.self,
      issuedAt: Date.now(),
      previous: "0".repeat(64),
      replicas: [],
    });
    // Mallory can write only into its own slots: it publishes the lease there, for whoever reads it.
    await mallory.vm.book.publishLease(forgedLease);
    // 2. A record claiming the VM for another owner, signed by Mallory.
    const forgedVm: VmRecord = {
      ...record,
      owner: mallory.identity.peerId,
      name: "stolen",
      updatedAt: Date.now() + 10,
    };
    await mallory.vm.book.publishVm(await signEntry(mallory.identity, VM_KIND, forgedVm));
    // The host has both (each change makes it check its leases), and has checkpointed twice since, so
    // it went on hosting well after it looked at them.
    const heldByA = (space: "leases" | "vms", key: string) =>
      a.node.store.get(mallory.identity.peerId, space, key) !== undefined;
    await eventually(
      "the forgeries reached the host",
      () => heldByA("leases", leaseSlot(vmId, 99)) && heldByA("vms", vmId),
    );
    const seqWhenForged = (await a.vm.book.latestCheckpoint(vmId, owner.identity.peerId))?.record.seq ?? 0;
    await eventually(
      "two checkpoints since",
      async () =>
        ((await a.vm.book.latestCheckpoint(vmId, owner.identity.peerId))?.record.seq ?? 0) >=
        seqWhenForged + 2,
    );
    expect(runningOn(a, vmId)).toBe(true);
    expect((await a.vm.book.currentLease(vmId, owner.identity.peerId))?.lease.epoch).toBe(1);
    // The forged record does not count (the VM id is bound to its owner): the owner's own stands.
    expect((await a.vm.book.vm(vmId))?.vm.owner).toBe(owner.identity.peerId);

    // 3. Mallory asks another contributor to start a VM under a lease Mallory signed for the owner's VM.
    victim.contributing = true;
    victim.vm.host.setAccepting(true);
    const key = await createVmKey();
    const lease = await signEntry(mallory.identity, LEASE_KIND, {
      vmId,
      epoch: 100,
      host: victim.node.self,
      issuedAt: Date.now(),
      previous: "0".repeat(64),
      replicas: [],
    });
    const sealed = await sealTo(
      victim.identity.box.publicKey,
      new TextEncoder().encode(await exportVmKey(key)),
      `vm-key/${vmId}/100`,
    );
    const fakeRecord = await signEntry(mallory.identity, VM_KIND, { ...record, updatedAt: Date.now() + 20 });
    mallory.node.mesh.pin(victim.node.self);
    await eventually("mallory linked to the victim", () => mallory.node.mesh.isOpen(victim.node.self));
    const refused = nextVmMessage(mallory, victim, (m) => m.t === "status" && m.vmId === vmId);
    mallory.node.mesh
      .channel(VM_PROTOCOL)
      .send(
        victim.node.self,
        encodeVmMessage({ t: "start", vm: fakeRecord, lease, key: sealed, restore: [] }),
      );
    // The same with the owner's genuine record: the lease alone is refused, and the answer comes after
    // the victim went through the first message (same link, same checks and more).
    const genuine = (await owner.vm.book.vm(vmId))!.entry;
    mallory.node.mesh
      .channel(VM_PROTOCOL)
      .send(victim.node.self, encodeVmMessage({ t: "start", vm: genuine, lease, key: sealed, restore: [] }));
    expect(await refused).toMatchObject({
      state: "refused",
      detail: "the lease is not signed by the VM's owner",
    });
    expect(victim.vm.host.vms()).toEqual([]);
    expect(engines.created.has(victim.node.self)).toBe(false);

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
    // Mallory can only put it in its own slot; once the owner holds it, the owner's read passes it over.
    await mallory.vm.book.publishCheckpoint(forgedCheckpoint);
    await eventually(
      "the forged record reached the owner",
      () => owner.node.store.get(mallory.identity.peerId, "checkpoints", vmId) !== undefined,
    );
    const readWhileForged = owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId);
    expect((await readWhileForged)?.record.seq ?? 0).not.toBe(50);
  });

  it("moves a VM whose host goes away, restoring its newest checkpoint", async () => {
    const { owner, vmId, first, second } = await ownerWithRunningVm("survivor");
    await setFile(owner, first, vmId, "note", "kept-42");
    await checkpointedFromNow(owner, vmId);
    await eventually("a checkpoint after the write", async () => {
      const latest = await owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId);
      return !!latest && latest.record.seq >= 2 && (await owner.vm.owner.sealedSnapshot(vmId)) !== null;
    });
    await remove(first);
    await eventually("running on the other host", () => runningOn(second, vmId), { timeoutMs: 15_000 });
    expect(owner.vm.owner.get(vmId)?.host).toBe(second.node.self);
    expect(owner.vm.owner.get(vmId)?.epoch).toBe(2);
    const engine = [...running].find((m) => m.running && m.files.note === "kept-42");
    expect(engine).toBeDefined();
  });

  it("resumes a VM whose host went away while its owner was offline, once the owner returns", async () => {
    const { hub, network, owner, vmId, first, second } = await ownerWithRunningVm("patient");
    await setFile(owner, first, vmId, "note", "from-before");
    await checkpointedFromNow(owner, vmId);
    await eventually("a checkpoint with the note", async () => (await ownerHolds(owner, vmId)) >= 3);
    // The owner closes its tab; then the host goes away too. Nobody moves the VM meanwhile.
    await remove(owner);
    await remove(first);
    await new Promise((r) => setTimeout(r, 1500));
    expect(second.vm.host.vms()).toEqual([]);
    // The owner comes back (same identity, same device storage).
    const back = await addPeer(hub, network, { identity: owner.identity, stores: owner.stores });
    await eventually("running again on the other host", () => runningOn(second, vmId), { timeoutMs: 15_000 });
    expect(back.vm.owner.get(vmId)?.detail ?? "").toMatch(/while you were offline/);
    expect([...running].some((m) => m.running && m.files.note === "from-before")).toBe(true);
  });

  it("refuses a tampered checkpoint and restores the one before it", async () => {
    const { owner, vmId, first, second } = await ownerWithRunningVm("tampered");
    await eventually("two checkpoints held by the owner", async () => {
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
    await eventually("running again", () => runningOn(second, vmId), { timeoutMs: 15_000 });
    const hosted = machineOf(second, vmId)!;
    expect(hosted.detail).toMatch(new RegExp(`checkpoint 1\\.${latest.seq}: refused`));
  });
});
