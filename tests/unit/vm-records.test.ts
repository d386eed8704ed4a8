import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createIdentity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { LEASE_KIND, leaseKey, VmBook } from "../../core/state/vm-records.ts";

describe("VmBook", () => {
  it("does not take a valid signature for a payload it was not made for, even after checking the real one", async () => {
    const owner = await createIdentity();
    const book = new VmBook(new Y.Doc());
    const vmId = "a".repeat(32);
    const lease = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 2,
      host: `${"b".repeat(32)}.s`,
      issuedAt: 1,
      previous: "0".repeat(64),
      replicas: [],
    });
    book.leases.set(leaseKey(vmId, 2), lease);
    expect((await book.currentLease(vmId, owner.peerId))?.lease.host).toBe(`${"b".repeat(32)}.s`);
    // The same signature on a payload naming another host.
    const forged = { ...lease, payload: { ...lease.payload, host: `${"c".repeat(32)}.s` } };
    book.leases.set(leaseKey(vmId, 2), forged);
    expect(await book.checkLease(forged, owner.peerId)).toBeNull();
    expect(await book.currentLease(vmId, owner.peerId)).toBeNull();
  });
});
