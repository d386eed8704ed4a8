// Attack 1: taking over a VM. After the VM moved from host A to host B, a peer
// of the room deletes the newer lease and the checkpoint records from the
// document, and replays the owner's genuine epoch-1 lease to A as a `start`,
// with a VM key it made and sealed to A. A must refuse (it saw epoch 2, and the
// sender is not the owner); the owner must not adopt A; the lease comes back.
import { afterEach, describe, expect, it } from "vitest";
import type { SignedEntry } from "../../../core/crypto/signed.ts";
import { createVmKey, exportVmKey, sealTo } from "../../../core/crypto/vm-crypto.ts";
import { type Lease, leaseKey } from "../../../core/state/vm-records.ts";
import { vmKeyContext } from "../../../core/vm/engine.ts";
import { encodeVmMessage, VM_PROTOCOL } from "../../../core/vm/vm-protocol.ts";
import { eventually } from "../../helpers/eventually.ts";
import { addPeer, engines, nextVmMessage, room, runningOn, runningVm, stopAll } from "./setup.ts";

afterEach(stopAll);

describe("hostile: taking over a VM", () => {
  it("a former host refuses a replayed old lease from a stranger, and the owner keeps the real host", async () => {
    const { hub, network, owner, a, b, others } = await room([{}]);
    const mallory = others[0]!;
    const { vmId, first, second } = await runningVm(owner, a, b, "target");
    await owner.vm.owner.move(vmId);
    await eventually("moved", () => runningOn(second, vmId) && !runningOn(first, vmId));
    await eventually("epoch 2 everywhere", () => mallory.vm.book.leases.has(leaseKey(vmId, 2)));

    // Mallory keeps the genuine epoch-1 lease, then deletes what came after it.
    const oldLease = mallory.vm.book.leases.get(leaseKey(vmId, 1)) as SignedEntry<Lease>;
    const record = (await mallory.vm.book.vm(vmId))!.entry;
    mallory.vm.book.leases.delete(leaseKey(vmId, 2));
    for (const k of [...mallory.vm.book.checkpoints.keys()]) mallory.vm.book.checkpoints.delete(k);
    // (The owner puts the lease back as soon as it sees it gone, so the former host may never see it
    // missing: what it must rely on is what it remembers, and who is asking.)

    const key = await createVmKey();
    const sealed = await sealTo(
      first.identity.box.publicKey,
      new TextEncoder().encode(await exportVmKey(key)),
      vmKeyContext(vmId, 1),
    );
    mallory.node.mesh.pin(first.node.self);
    await eventually("mallory linked to the former host", () => mallory.node.mesh.isOpen(first.node.self));
    const answer = nextVmMessage(mallory, first, (m) => m.t === "status" && m.vmId === vmId);
    mallory.node.mesh
      .channel(VM_PROTOCOL)
      .send(
        first.node.self,
        encodeVmMessage({ t: "start", vm: record, lease: oldLease, key: sealed, restore: [] }),
      );
    expect(await answer).toMatchObject({ state: "refused" });
    expect(first.vm.host.vms()).toEqual([]);
    expect(engines.created.get(first.node.self)).toBe(1);

    // The same replay from under the owner's own peer id (another of its tabs, or whoever a relay lets
    // pose as it while links are not authenticated end to end): refused, as older than what A has seen.
    const ownerTab = await addPeer(hub, network, { identity: owner.identity });
    ownerTab.node.mesh.pin(first.node.self);
    await eventually("the owner's other tab linked to the former host", () =>
      ownerTab.node.mesh.isOpen(first.node.self),
    );
    const again = nextVmMessage(ownerTab, first, (m) => m.t === "status" && m.vmId === vmId);
    ownerTab.node.mesh
      .channel(VM_PROTOCOL)
      .send(
        first.node.self,
        encodeVmMessage({ t: "start", vm: record, lease: oldLease, key: sealed, restore: [] }),
      );
    expect(await again).toMatchObject({ state: "refused", code: "newer-lease" });
    expect(first.vm.host.vms()).toEqual([]);

    // The owner puts its newest lease back and keeps the VM where it runs.
    await eventually("the owner's newest lease is back", async () => {
      return (await mallory.vm.book.currentLease(vmId, owner.identity.peerId))?.lease.epoch === 2;
    });
    expect(owner.vm.owner.get(vmId)).toMatchObject({ host: second.node.self, epoch: 2, state: "running" });
    expect(runningOn(second, vmId)).toBe(true);
  });
});
