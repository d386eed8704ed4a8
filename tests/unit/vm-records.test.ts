import { describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { AuthorStore } from "../../core/state/author-store.ts";
import { leaseSlot, VmBook } from "../../core/state/vm-book.ts";
import { LEASE_KIND } from "../../core/state/vm-records.ts";

describe("VmBook", () => {
  it("does not take a valid signature for a payload it was not made for, even after checking the real one", async () => {
    const owner = await createIdentity();
    // The owner's own store: the one slot whose leases count for this VM.
    const book = new VmBook(new AuthorStore(owner));
    const vmId = "a".repeat(32);
    const lease = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 2,
      host: `${"b".repeat(32)}.s`,
      issuedAt: 1,
      previous: "0".repeat(64),
      replicas: [],
    });
    await book.publishLease(lease);
    expect((await book.currentLease(vmId, owner.peerId))?.lease.host).toBe(`${"b".repeat(32)}.s`);
    // The same signature on a payload naming another host, in the very slot of that epoch.
    const forged = { ...lease, payload: { ...lease.payload, host: `${"c".repeat(32)}.s` } };
    await book.publishLease(forged);
    expect(book.store.get(owner.peerId, "leases", leaseSlot(vmId, 2))).toEqual(forged);
    expect(await book.checkLease(forged, owner.peerId)).toBeNull();
    expect(await book.currentLease(vmId, owner.peerId)).toBeNull();
  });
});
