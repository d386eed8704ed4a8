// Attack 7: checkpoints are for the owner and the hosts it chose, epoch by
// epoch. A former host cannot open later checkpoints; the owner stores only
// bytes that open with a key it issued for that epoch; a Sybil owner cannot
// flood a contributor's replica space to evict another owner's replicas; the
// replica index stays under its cap under concurrent writes; and a stranger
// who asks for a checkpoint gets nothing.
import { afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { unseal } from "../../../core/crypto/vm-crypto.ts";
import { AuthorStore } from "../../../core/state/author-store.ts";
import { MemoryStore } from "../../../core/state/storage.ts";
import { leaseSlot, VmBook } from "../../../core/state/vm-book.ts";
import { LEASE_KIND, VM_KIND, vmIdFor } from "../../../core/state/vm-records.ts";
import { sha256Hex } from "../../../core/util/bytes.ts";
import { randomHex } from "../../../core/util/hex.ts";
import { checkpointMeta } from "../../../core/vm/checkpoint-protocol.ts";
import { checkpointContext } from "../../../core/vm/engine.ts";
import { ReplicaStore } from "../../../core/vm/replica-store.ts";
import { encodeVmMessage, VM_PROTOCOL } from "../../../core/vm/vm-protocol.ts";
import { eventually } from "../../helpers/eventually.ts";
import {
  addStranger,
  engines,
  moreCheckpoints,
  ownerHeld,
  room,
  runningOn,
  runningVm,
  stopAll,
} from "../vm-peers.ts";

afterEach(stopAll);

describe("hostile: checkpoints of later epochs, and the bytes kept for others", () => {
  it("a former host cannot open the checkpoints of the next epoch", async () => {
    const { owner, a, b } = await room();
    const { vmId, first, second } = await runningVm(owner, a, b, "secret");
    await moreCheckpoints(owner, vmId, 1, 1);
    const formerKey = engines.sealedWith.get(first.node.self)![0]!.key;
    await owner.vm.owner.move(vmId);
    await eventually("moved", () => runningOn(second, vmId));
    await moreCheckpoints(owner, vmId, 2, 1);
    const later = (await ownerHeld(owner, vmId)).find((c) => c.epoch === 2)!;
    await expect(unseal(formerKey, later.sealed, checkpointContext(vmId, 2, later.seq))).rejects.toThrow(
      /does not open/,
    );
  });

  it("the owner keeps no checkpoint bytes that do not open with the key it issued for that epoch", async () => {
    const { owner, a, b } = await room();
    const { vmId, first } = await runningVm(owner, a, b, "picky");
    await moreCheckpoints(owner, vmId, 1, 1);
    const genuine = (await ownerHeld(owner, vmId)).find((c) => c.epoch === 1)!;
    // The host of the epoch (or anyone speaking for it) sends junk, and a genuine checkpoint under another number.
    const junk = crypto.getRandomValues(new Uint8Array(600));
    const sends = [
      { ref: { vmId, epoch: 1, seq: 500 }, bytes: junk },
      { ref: { vmId, epoch: 1, seq: 501 }, bytes: genuine.sealed },
    ];
    for (const s of sends)
      await first.vm.transfers
        .send(owner.node.self, checkpointMeta(s.ref, await sha256Hex(s.bytes)), s.bytes)
        .catch(() => {});
    // Two genuine checkpoints after them: whatever the owner did with the junk, it has done.
    const seqNow = (await first.vm.book.latestCheckpoint(vmId, owner.identity.peerId))?.record.seq ?? 0;
    await eventually(
      "two more genuine checkpoints recorded",
      async () =>
        ((await first.vm.book.latestCheckpoint(vmId, owner.identity.peerId))?.record.seq ?? 0) >= seqNow + 2,
    );
    const held = (await ownerHeld(owner, vmId)).map((c) => c.seq);
    expect(held).not.toContain(500);
    expect(held).not.toContain(501);
  });

  it("a Sybil owner flooding a contributor with replicas cannot evict another owner's replica", async () => {
    // Checkpoints only when the owner asks, so the victim's replica is not refreshed during the flood.
    const { owner, a, b, others } = await room([{}], {
      checkpointIntervalMs: 600_000,
      replicaMaxBytes: 64 * 1024,
    });
    const sybil = others[0]!;
    const { vmId, first, second: replica } = await runningVm(owner, a, b, "victim");
    owner.node.mesh.channel(VM_PROTOCOL).send(first.node.self, encodeVmMessage({ t: "flush", vmId }));
    const victimKey = `replica/${vmId}/1/1`;
    await eventually(
      "the replica holds the victim's checkpoint",
      async () => (await replica.stores.replicas.get(victimKey)) instanceof Uint8Array,
    );

    // The Sybil owns VMs of its own, "hosted" by itself, with the contributor as their replica.
    const sybilVms: string[] = [];
    for (let i = 0; i < 16; i++) {
      const nonce = randomHex(16);
      const id = await vmIdFor(sybil.identity.peerId, nonce);
      const at = Date.now();
      await sybil.vm.book.publishVm(
        await signEntry(sybil.identity, VM_KIND, {
          vmId: id,
          nonce,
          owner: sybil.identity.peerId,
          name: `sybil-${i}`,
          imageId: "test-image",
          memoryBytes: 1,
          createdAt: at,
          deleted: false,
          updatedAt: at,
        }),
      );
      await sybil.vm.book.publishLease(
        await signEntry(sybil.identity, LEASE_KIND, {
          vmId: id,
          epoch: 1,
          host: sybil.node.self,
          issuedAt: at,
          previous: null,
          replicas: [replica.node.self],
        }),
      );
      sybilVms.push(id);
    }
    // All in the Sybil's own slots, where a VM's owner writes its record and leases.
    expect(sybil.node.store.get(sybil.identity.peerId, "leases", leaseSlot(sybilVms[0]!, 1))).toBeTruthy();
    await eventually("the contributor sees the Sybil's VMs", async () => {
      for (const id of sybilVms)
        if (!(await replica.vm.book.currentLease(id, sybil.identity.peerId))) return false;
      return true;
    });
    const blob = crypto.getRandomValues(new Uint8Array(4 * 1024));
    const sha = await sha256Hex(blob);
    // One after the other, each kept before the next, so every one goes through the cap.
    for (const id of sybilVms) {
      await sybil.vm.transfers
        .send(replica.node.self, checkpointMeta({ vmId: id, epoch: 1, seq: 1 }, sha), blob)
        .catch(() => {});
      await eventually(
        "the contributor took it",
        async () =>
          ((await replica.stores.replicas.get("replica-index")) as { key: string }[] | undefined)?.some(
            (i) => i.key === `replica/${id}/1/1`,
          ) ?? false,
      );
    }
    expect(await replica.stores.replicas.get(victimKey)).toBeInstanceOf(Uint8Array);
  });

  it("concurrent replica writes stay under the cap", async () => {
    // The contributor's view of the state, holding VM records by 20 owners, each from its owner's own store.
    const book = new VmBook(new AuthorStore(await createIdentity()));
    const store = new MemoryStore();
    const maxBytes = 64 * 1024;
    const replicas = new ReplicaStore({
      self: () => `${"e".repeat(32)}.self`,
      book,
      replicas: store,
      maxBytes,
    });
    const items: string[] = [];
    for (let i = 0; i < 20; i++) {
      const owner = await createIdentity();
      const nonce = randomHex(16);
      const vmId = await vmIdFor(owner.peerId, nonce);
      const ownerBook = new VmBook(new AuthorStore(owner));
      await ownerBook.publishVm(
        await signEntry(owner, VM_KIND, {
          vmId,
          nonce,
          owner: owner.peerId,
          name: `vm-${i}`,
          imageId: "x",
          memoryBytes: 1,
          createdAt: 1,
          deleted: false,
          updatedAt: 1,
        }),
      );
      for (const e of ownerBook.store.entriesOf(owner.peerId))
        expect(await book.store.apply(e)).toBe("applied");
      items.push(vmId);
    }
    const blob = new Uint8Array(8 * 1024);
    const sha = await sha256Hex(blob);
    await Promise.all(
      items.map((vmId) =>
        replicas.keep(`${"f".repeat(32)}.host`, checkpointMeta({ vmId, epoch: 1, seq: 1 }, sha), blob),
      ),
    );
    let stored = 0;
    for (const k of await store.keys()) {
      const v = await store.get(k);
      if (k.startsWith("replica/") && v instanceof Uint8Array) stored += v.length;
    }
    expect(await book.allVms()).toHaveLength(items.length);
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(maxBytes);
  });

  it("a stranger who asks for a checkpoint gets nothing, from the owner or a replica", async () => {
    const { hub, network, owner, a, b } = await room();
    const { vmId, second } = await runningVm(owner, a, b, "private");
    await moreCheckpoints(owner, vmId, 1, 1);
    const held = (await ownerHeld(owner, vmId))[0]!;
    const ref = { vmId, epoch: held.epoch, seq: held.seq };
    await eventually(
      "the replica holds it",
      async () =>
        (await second.stores.replicas.get(`replica/${vmId}/${ref.epoch}/${ref.seq}`)) instanceof Uint8Array,
    );
    const stranger = await addStranger(hub, network);
    expect(await stranger.exchange.fetch(owner.node.self, ref, () => false)).toBeNull();
    expect(await stranger.exchange.fetch(second.node.self, ref, () => false)).toBeNull();
  });
});
