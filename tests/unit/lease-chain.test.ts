// Leases are chained: each names the digest of the one before. Readers keep a
// VM's chain only while every link that is present matches; a missing link is
// a gap, not a reason to believe an older lease.
import { describe, expect, it } from "vitest";
import { createIdentity, type Identity } from "../../core/crypto/identity.ts";
import { type SignedEntry, signEntry } from "../../core/crypto/signed.ts";
import { AuthorStore, type StateEntry } from "../../core/state/author-store.ts";
import { LEASE_SLOTS, leaseSlot, VmBook } from "../../core/state/vm-book.ts";
import { LEASE_KIND, type Lease, leaseDigest } from "../../core/state/vm-records.ts";

const vmId = "a".repeat(32);
const host = (c: string) => `${c.repeat(32)}.s`;

async function chain(n: number) {
  const owner = await createIdentity();
  const entries: SignedEntry<Lease>[] = [];
  let previous: string | null = null;
  for (let epoch = 1; epoch <= n; epoch++) {
    const lease: Lease = { vmId, epoch, host: host("b"), issuedAt: epoch, previous, replicas: [] };
    const entry = await signEntry(owner, LEASE_KIND, lease);
    entries.push(entry);
    previous = await leaseDigest(entry);
  }
  return { owner, entries };
}

/** The owner's own store and book, and the state entry each published lease went out as. */
async function published(owner: Identity, leases: SignedEntry<Lease>[]) {
  const book = new VmBook(new AuthorStore(owner));
  const sent: StateEntry[] = [];
  const off = book.store.on("change", (slot) => {
    if (slot.space === "leases") sent.push(slot.entry);
  });
  for (const e of leases) await book.publishLease(e);
  off();
  return { book, sent };
}

/** Another peer's view of the state. */
async function reader() {
  return new VmBook(new AuthorStore(await createIdentity()));
}

describe("lease chain", () => {
  it("takes a chain whose links all match, newest first", async () => {
    const { owner, entries } = await chain(3);
    const { book, sent } = await published(owner, entries);
    expect((await book.leasesOf(vmId, owner.peerId)).map((l) => l.lease.epoch)).toEqual([3, 2, 1]);
    const other = await reader();
    for (const e of sent) expect(await other.store.apply(e)).toBe("applied");
    expect((await other.leasesOf(vmId, owner.peerId)).map((l) => l.lease.epoch)).toEqual([3, 2, 1]);
  });

  it("ends the chain at a link that does not match (a fork)", async () => {
    const { owner, entries } = await chain(2);
    const fork = await signEntry(owner, LEASE_KIND, {
      vmId,
      epoch: 3,
      host: host("c"),
      issuedAt: 3,
      previous: "0".repeat(64),
      replicas: [],
    });
    const { book } = await published(owner, [...entries, fork]);
    expect(book.store.get(owner.peerId, "leases", leaseSlot(vmId, 3))).toEqual(fork);
    expect((await book.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(2);
  });

  it("does not fall back to an older lease when a link is deleted", async () => {
    const { owner, entries } = await chain(3);
    const { book, sent } = await published(owner, entries);
    // A reader that got links 1 and 3 but not (yet) 2: a gap.
    const other = await reader();
    expect(await other.store.apply(sent[0])).toBe("applied");
    expect(await other.store.apply(sent[2])).toBe("applied");
    expect(other.store.get(owner.peerId, "leases", leaseSlot(vmId, 2))).toBeUndefined();
    expect((await other.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(3);
    // The owner itself removes link 2 (only it can): still a gap, not a fall back to epoch 1.
    const removal = await book.store.put("leases", leaseSlot(vmId, 2), null);
    expect(book.store.get(owner.peerId, "leases", leaseSlot(vmId, 2))).toBeNull();
    expect((await book.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(3);
    expect(await other.store.apply(removal)).toBe("applied");
    expect((await other.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(3);
  });

  it("keeps the newest lease of a ring slot against a replay of the older one it replaced", async () => {
    const { owner, entries } = await chain(LEASE_SLOTS + 1);
    const { book, sent } = await published(owner, entries);
    // Epoch 5 took the slot of epoch 1.
    expect(leaseSlot(vmId, LEASE_SLOTS + 1)).toBe(leaseSlot(vmId, 1));
    expect((await book.leasesOf(vmId, owner.peerId)).map((l) => l.lease.epoch)).toEqual([5, 4, 3, 2]);
    // The owner's genuine entry of epoch 1, replayed to the owner and to a peer that has the newer one.
    const other = await reader();
    for (const e of sent.slice(1)) expect(await other.store.apply(e)).toBe("applied");
    expect(await book.store.apply(sent[0])).toBe("stale");
    expect(await other.store.apply(sent[0])).toBe("stale");
    for (const b of [book, other]) {
      expect((await b.currentLease(vmId, owner.peerId))?.lease.epoch).toBe(5);
      expect((await b.leasesOf(vmId, owner.peerId)).map((l) => l.lease.epoch)).toEqual([5, 4, 3, 2]);
    }
  });

  it("refuses a first lease that names a previous one, and a later one that names none", async () => {
    const owner = await createIdentity();
    const book = new VmBook(new AuthorStore(owner));
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
