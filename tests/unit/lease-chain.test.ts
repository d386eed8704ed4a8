// Leases are chained: each names the digest of the one before. Readers keep a
// VM's chain only while every link that is present matches; a missing link is
// a gap, not a reason to believe an older lease.
import { describe, expect, it } from "vitest";
import * as Y from "yjs";
import { createIdentity } from "../../core/crypto/identity.ts";
import { signEntry } from "../../core/crypto/signed.ts";
import { LEASE_KIND, type Lease, leaseDigest, leaseKey, VmBook } from "../../core/state/vm-records.ts";

const vmId = "a".repeat(32);
const host = (c: string) => `${c.repeat(32)}.s`;

async function chain(n: number) {
  const owner = await createIdentity();
  const entries = [];
  let previous: string | null = null;
  for (let epoch = 1; epoch <= n; epoch++) {
    const lease: Lease = { vmId, epoch, host: host("b"), issuedAt: epoch, previous, replicas: [] };
    const entry = await signEntry(owner, LEASE_KIND, lease);
    entries.push(entry);
    previous = await leaseDigest(entry);
  }
  return { owner, entries };
}

describe("lease chain", () => {
  it("takes a chain whose links all match, newest first", async () => {
    const { owner, entries } = await chain(3);
    const book = new VmBook(new Y.Doc());
    for (const e of entries) book.leases.set(leaseKey(vmId, e.payload.epoch), e);
    expect((await book.leasesOf(vmId, owner.peerId)).map((l) => l.lease.epoch)).toEqual([3, 2, 1]);
  });

  it("ends the chain at a link that does not match (a fork)", async () => {
    const { owner, entries } = await chain(2);
    const book = new VmBook(new Y.Doc());
    for (const e of entries) book.leases.set(leaseKey(vmId, e.payload.epoch), e);
    const fork = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 3,
      host: host("c"),
      issuedAt: 3,
      previous: "0".repeat(64),
      replicas: [],
    });
    book.leases.set(leaseKey(vmId, 3), fork);
    expect((await book.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(2);
  });

  it("does not fall back to an older lease when a link is deleted", async () => {
    const { owner, entries } = await chain(3);
    const book = new VmBook(new Y.Doc());
    book.leases.set(leaseKey(vmId, 1), entries[0]);
    book.leases.set(leaseKey(vmId, 3), entries[2]);
    expect((await book.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(3);
  });

  it("refuses a first lease that names a previous one, and a later one that names none", async () => {
    const owner = await createIdentity();
    const book = new VmBook(new Y.Doc());
    const first = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 1,
      host: host("b"),
      issuedAt: 1,
      previous: "0".repeat(64),
      replicas: [],
    });
    const second = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 2,
      host: host("b"),
      issuedAt: 2,
      previous: null,
      replicas: [],
    });
    expect(await book.checkLease(first, owner.peerId)).toBeNull();
    expect(await book.checkLease(second, owner.peerId)).toBeNull();
  });
});
