// Attack 2: destroying a VM's data. A peer of the room goes after every
// checkpoint record the moment it appears: it cannot delete the host's entry,
// so it tombstones the record in its own slot and puts a bogus newer record
// there, pushes to every honest peer a tombstone for the host's slot that it
// signed itself under the host's key, and replays the host's oldest genuine
// record over the newer ones. None of it may count: the records stay, the owner
// keeps its good sealed checkpoints, and when the host goes away the next one
// must restore them, never boot the image with empty files.
import { afterEach, describe, expect, it } from "vitest";
import { signEntry } from "../../../core/crypto/signed.ts";
import type { ApplyResult, StateEntry } from "../../../core/state/author-store.ts";
import { STATE_KIND, type StatePayload } from "../../../core/state/state-entry.ts";
import { CHECKPOINT_KIND, type CheckpointRecord } from "../../../core/state/vm-records.ts";
import { eventually } from "../../helpers/eventually.ts";
import { running } from "../fake-engine.ts";
import {
  moreCheckpoints,
  ownerHeld,
  type Peer,
  remove,
  room,
  runningOn,
  runningVm,
  setFile,
  stopAll,
} from "../vm-peers.ts";

afterEach(stopAll);

describe("hostile: destroying a VM's data", () => {
  it("a VM whose checkpoint records are all attacked still resumes from its owner's checkpoints", async () => {
    const { owner, a, b, others } = await room([{}]);
    const mallory = others[0]!;
    const honest: Peer[] = [owner, a, b];
    const malloryId = mallory.identity.peerId;
    // The first genuine entry Mallory saw of each (author, slot), to replay once a newer one is out.
    const oldest = new Map<string, StateEntry>();
    const forgeries: Promise<ApplyResult>[] = [];
    const replays: Promise<ApplyResult>[] = [];
    const attack = async (author: string, entry: StateEntry) => {
      const { key: vmId, seq } = entry.payload;
      const before = oldest.get(`${author}/${vmId}`);
      if (!before) oldest.set(`${author}/${vmId}`, entry);
      // In its own slot: a tombstone, then a bogus record claiming to be the host's, far ahead of it.
      await mallory.node.store.put("checkpoints", vmId, null);
      const record = entry.payload.value as { payload: CheckpointRecord } | null;
      if (record) {
        const bogus: CheckpointRecord = {
          ...record.payload,
          seq: record.payload.seq + 1000,
          sha256: "0".repeat(64),
          previous: null,
        };
        await mallory.node.store.put(
          "checkpoints",
          vmId,
          await signEntry(mallory.identity, CHECKPOINT_KIND, bogus),
        );
      }
      // For the host's slot: a tombstone Mallory signed, under the host's key.
      const forged = {
        ...(await signEntry(mallory.identity, STATE_KIND, {
          space: "checkpoints",
          key: vmId,
          seq: seq + 1000,
          value: null,
        } satisfies StatePayload)),
        publicKey: entry.publicKey,
      };
      for (const p of honest) forgeries.push(p.node.store.apply(forged, mallory.node.self));
      // The host's oldest genuine record of this VM, over its newer one.
      if (before) for (const p of honest) replays.push(p.node.store.apply(before, mallory.node.self));
    };
    const attacks: Promise<void>[] = [];
    const off = mallory.node.store.on("change", (slot) => {
      if (slot.space === "checkpoints" && slot.author !== malloryId)
        attacks.push(attack(slot.author, slot.entry));
    });

    const { vmId, first, second } = await runningVm(owner, a, b, "precious");
    await setFile(owner, first, vmId, "note", "kept-7");
    await moreCheckpoints(owner, vmId, 1, 2);
    await eventually("mallory attacked the newer records", () => replays.length > 0);
    await Promise.all(attacks);
    // The host's record stands everywhere; Mallory's tombstone and bogus record count as Mallory's only.
    for (const p of honest) {
      expect(p.node.store.get(first.identity.peerId, "checkpoints", vmId)).not.toBeNull();
      expect(await p.vm.book.latestCheckpoint(vmId, owner.identity.peerId)).toMatchObject({
        record: { vmId, epoch: 1, host: first.node.self },
      });
    }
    expect(new Set(await Promise.all(forgeries))).toEqual(new Set(["invalid"]));
    expect(new Set(await Promise.all(replays))).toEqual(new Set(["stale"]));
    expect((await ownerHeld(owner, vmId)).length).toBeGreaterThan(0);
    await eventually("mallory's own record reached the owner", () =>
      owner.node.store.byKey("checkpoints", vmId).some((s) => s.author === malloryId),
    );
    const latest = (await owner.vm.book.latestCheckpoint(vmId, owner.identity.peerId))!;
    expect(latest.record.sha256).not.toBe("0".repeat(64));

    await remove(first);
    await eventually(
      "the VM is running again, or its owner says why not",
      () => runningOn(second, vmId) || ["failed", "waiting"].includes(owner.vm.owner.get(vmId)?.state ?? ""),
      { timeoutMs: 15_000 },
    );
    expect(owner.vm.owner.get(vmId)?.state).toBe("running");
    // Restored with its files, not booted from the image.
    expect([...running].some((m) => m.running && m.files.note === "kept-7")).toBe(true);
    off();
    await Promise.all(attacks);
    expect(new Set(await Promise.all(forgeries))).toEqual(new Set(["invalid"]));
    expect(new Set(await Promise.all(replays))).toEqual(new Set(["stale"]));
  });
});
