// A hostile peer in the room while a VM moves. The owner (one browser context)
// runs a VM on contributor A (another context), writes a file, and presses
// "Move": the VM goes to contributor B (a third context). Meanwhile a Node peer
// of the same room (a full PeerNode over node-datachannel, with an identity of
// its own) that has kept every entry it heard:
//   (1) replays every genuine entry it kept, of the owner and the hosts (the
//       owner's epoch-1 lease among them) to everyone;
//   (2) "deletes records": tombstones the VM record, the epoch-2 lease and the
//       checkpoint records in its own slots, puts the owner's epoch-1 lease and
//       an epoch-3 lease it signed itself (naming A) in its own slots, and
//       broadcasts tombstones and moved leases for the owner's and A's slots,
//       signed with its own key under theirs;
//   (3) sends A a `start` for the owner's genuine VM record and epoch-1 lease,
//       with a VM key it made and sealed to A.
// What must hold, as a user sees it: the VM runs on B with its files, the
// owner's My VMs lists it once, running on B in epoch 2, A runs nothing and B
// one VM; and what every page holds of the owner's entries is what the owner
// signed, nothing the hostile forged or replayed.
//
// Which assertion catches which attack, were its protection off:
// - A host that starts a VM for whoever replays a signed lease (no "only the
//   owner starts it"; behind it, "a newer lease exists") answers (3) with
//   "restoring" instead of "refused", and A's data-hosting goes to 1: a second
//   copy.
// - A store that took entries whose signature does not hold (2b) would hold,
//   and say in its digest, an owner or host feed at FORGED_SEQ; one that let
//   an older entry win its slot (1) would hold an owner feed whose count/hash
//   never matches the genuine one. Both are read from the digests every page
//   sends the hostile after the attack. (Tried with each protection off: the
//   forged entries show in the digests; with older entries winning, the
//   replayed checkpoint records keep B from ever running the VM.)
// - Readers that counted another author's slot (2a), or a value in it that its
//   author did not sign, would find the VM record deleted, the epoch-2 lease
//   gone or the hostile's epoch-3 lease naming A: checked with the app's own
//   reader (VmBook) over the hostile's store, which holds the hostile's slots
//   beside the owner's and the hosts'. (Readers check both the slot's author
//   and the signer, so turning off one alone is still caught by the other.)
//   The pages decide with the same reader what the owner's table shows and
//   what a host runs: with both checks off, the owner's row never settles on
//   B in epoch 2 (the hostile's epoch 3 on A wins).
// - A move that lost the checkpoints (records "deleted", or an old one
//   replayed) brings the VM up on B without /root/note.txt: the shell's
//   "kept-42".
import type { BrowserContext, Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import { type SignedEntry, signEntry } from "../../core/crypto/signed.ts";
import { createVmKey, exportVmKey, sealTo } from "../../core/crypto/vm-crypto.ts";
import { type PeerAddress, peerIdOf } from "../../core/net/peer-address.ts";
import type { AuthorDigest, StateEntry } from "../../core/state/author-store.ts";
import { STATE_KIND, type StatePayload } from "../../core/state/state-entry.ts";
import { STATE_PROTOCOL } from "../../core/state/store-sync.ts";
import { leaseSlot, VmBook } from "../../core/state/vm-book.ts";
import { LEASE_KIND, type Lease, leaseDigest, type VmRecord } from "../../core/state/vm-records.ts";
import { vmKeyContext } from "../../core/vm/engine.ts";
import { encodeVmMessage, parseVmMessage, VM_PROTOCOL, type VmMessage } from "../../core/vm/vm-protocol.ts";
import { type NodePeer, startNodePeer } from "../../transports/node-peer.ts";
import { eventually } from "../helpers/eventually.ts";
import { type App, Shell, startApp } from "./harness.ts";
import { contribute, createVm, hostingCount, openInRoom, waitForContributors } from "./remote-steps.ts";

let app: App;
let hostile: NodePeer | undefined;

beforeAll(async () => {
  app = await startApp();
});

afterAll(async () => {
  hostile?.stop();
  await app?.close();
});

const ROOM = "e2e-hostile";
/** Far above any seq an honest peer writes (they start at the wall clock in ms). */
const FORGED_SEQ = 2 ** 52;

const open = (context: BrowserContext, page: string): Promise<Page> =>
  openInRoom(context, app.url, ROOM, page);

const vmRows = (owner: Page) => owner.getByRole("table", { name: "My VMs" }).locator("tbody tr");

interface Heard {
  author: string;
  entry: StateEntry;
}

/** The hostile peer: a Node PeerNode of the room that keeps every entry it hears, and its tools. */
class Hostile {
  readonly heard: Heard[] = [];
  /** The newest digest each peer sent us, with when it came. */
  readonly digests = new Map<PeerAddress, { atMs: number; d: Map<string, AuthorDigest> }>();
  readonly vmReplies: { from: PeerAddress; m: VmMessage }[] = [];
  /** Every digest ("count:hash") this peer's own store has had of each author: the genuine states. */
  private readonly held = new Map<string, Set<string>>();
  private readonly enc = new TextEncoder();

  constructor(readonly peer: NodePeer) {
    const { node } = peer;
    node.store.on("change", (slot) => {
      if (slot.author !== node.identity.peerId) this.heard.push({ author: slot.author, entry: slot.entry });
      const now = node.store.digest().get(slot.author);
      if (!now) return;
      const states = this.held.get(slot.author) ?? new Set<string>();
      states.add(`${now.count}:${now.hash}`);
      this.held.set(slot.author, states);
    });
    node.mesh.channel(STATE_PROTOCOL).on("message", (from, payload) => {
      let m: { t?: string; d?: [string, ...number[]][] };
      try {
        m = JSON.parse(new TextDecoder().decode(payload));
      } catch {
        return;
      }
      if (m.t !== "digest" || !Array.isArray(m.d)) return;
      const d = new Map(m.d.map(([a, seq, count, hash]) => [a, { seq: seq!, count: count!, hash: hash! }]));
      this.digests.set(from, { atMs: Date.now(), d });
    });
    node.mesh.channel(VM_PROTOCOL).on("message", (from, payload) => {
      const m = parseVmMessage(payload);
      if (m) this.vmReplies.push({ from, m });
    });
  }

  get node() {
    return this.peer.node;
  }

  /** The first VM record heard whose signer is its owner (the room has one VM). */
  vm(): { entry: SignedEntry<VmRecord>; owner: string } | null {
    for (const h of this.heard) {
      if (h.entry.payload.space !== "vms" || h.entry.payload.value === null) continue;
      const record = h.entry.payload.value as SignedEntry<VmRecord>;
      if (record.payload?.owner === h.author) return { entry: record, owner: h.author };
    }
    return null;
  }

  /** The owner's state entry for its lease of `epoch`, as the owner signed it. */
  leaseEntry(owner: string, vmId: string, epoch: number): StateEntry | null {
    for (const h of this.heard) {
      const p = h.entry.payload;
      const lease = (p.value as SignedEntry<Lease> | null)?.payload;
      if (h.author === owner && p.space === "leases" && lease?.vmId === vmId && lease.epoch === epoch)
        return h.entry;
    }
    return null;
  }

  publicKeyOf(author: string): string | null {
    return this.heard.find((h) => h.author === author)?.entry.publicKey ?? null;
  }

  /** Sends raw entries to every open link, as the state sync would; returns the fewest links a batch reached. */
  broadcast(entries: unknown[]): number {
    const channel = this.node.mesh.channel(STATE_PROTOCOL);
    let reached = Number.POSITIVE_INFINITY;
    for (let i = 0; i < entries.length; i += 32) {
      const batch = this.enc.encode(JSON.stringify({ t: "entries", e: entries.slice(i, i + 32) }));
      reached = Math.min(reached, channel.broadcast(batch));
    }
    return reached;
  }

  /** An entry for `victim`'s slot, signed with the hostile's own key: the signature cannot hold. */
  async forge(victimPublicKey: string, payload: StatePayload): Promise<StateEntry> {
    return { ...(await signEntry(this.node.identity, STATE_KIND, payload)), publicKey: victimPublicKey };
  }

  /** The hostile's digest of an author, for comparing with what others say they hold. */
  own(author: string): AuthorDigest | undefined {
    return this.node.store.digest().get(author);
  }

  /** Whether `d` is a state of `author` this peer's own (verifying) store has held at some moment. */
  heldOnce(author: string, d: AuthorDigest): boolean {
    return this.held.get(author)?.has(`${d.count}:${d.hash}`) ?? false;
  }
}

describe("a hostile peer while a VM moves", () => {
  it("replays a lease and deletes records: the VM keeps running on its new host with its files, once", async () => {
    const ownerCtx = await app.browser.newContext();
    const aCtx = await app.browser.newContext();
    const bCtx = await app.browser.newContext();
    const a = await open(aCtx, "contribute");
    const b = await open(bCtx, "contribute");
    for (const c of [a, b]) await contribute(c);

    hostile = startNodePeer({
      url: `${app.server.address().url.replace("http", "ws")}/signal`,
      room: ROOM,
      identity: await createIdentity(),
      presence: () => ({
        name: "mallory",
        appVersion: "node",
        capacity: { contributing: false, cores: 2, memoryMiB: 0, budgetPct: 0, slots: 0 },
        load: { vms: 0, usedPct: 0 },
      }),
    });
    const mallory = new Hostile(hostile);

    const owner = await open(ownerCtx, "vms");
    await waitForContributors(owner, 2);
    await createVm(owner, "e2e-vm", 60_000);
    const firstHost = (await vmRows(owner).first().getAttribute("data-host"))!;
    const [host, other] = (await hostingCount(a)) === 1 ? [a, b] : [b, a];
    expect(await hostingCount(host)).toBe(1);
    expect(await hostingCount(other)).toBe(0);

    // A file, then a checkpoint taken after it.
    await owner.getByRole("button", { name: "Open shell e2e-vm" }).click();
    const shell = new Shell(owner, "#remote-shell", "Remote VM shell");
    await shell.waitForText("root@spare:~#", 30_000);
    await shell.run("echo kept-$((40+2)) > /root/note.txt");
    const before = await vmRows(owner).first().getAttribute("data-checkpoint-seq");
    await owner.waitForFunction(
      (prev) => {
        const seq = document.querySelector<HTMLElement>("#my-vms-list tr")?.dataset.checkpointSeq ?? "";
        return seq !== "" && seq !== prev;
      },
      before,
      { timeout: 45_000 },
    );

    // What the hostile learned from the room: the VM, its owner, its epoch-1 lease naming A.
    await eventually("mallory heard the VM record", () => mallory.vm() !== null, { timeoutMs: 30_000 });
    const { entry: vmEntry, owner: ownerId } = mallory.vm()!;
    const vmId = vmEntry.payload.vmId;
    await eventually("mallory heard the epoch-1 lease", () => mallory.leaseEntry(ownerId, vmId, 1) !== null, {
      timeoutMs: 30_000,
    });
    const oldEntry = mallory.leaseEntry(ownerId, vmId, 1)!;
    const oldLease = oldEntry.payload.value as SignedEntry<Lease>;
    expect(oldLease.payload).toMatchObject({ vmId, epoch: 1, host: firstHost });
    const hostId = peerIdOf(firstHost);
    await eventually("mallory heard a checkpoint record of A", () =>
      mallory.heard.some((h) => h.author === hostId && h.entry.payload.space === "checkpoints"),
    );
    const ownerKey = mallory.publicKeyOf(ownerId)!;
    const hostKey = mallory.publicKeyOf(hostId)!;

    // Linked directly to every browser, so what it sends reaches each one and their digests reach it.
    const ownerAddress = [...mallory.node.presenceBoard.presences().keys()].find(
      (p) => peerIdOf(p) === ownerId,
    )!;
    expect(ownerAddress).toBeDefined();
    const otherAddresses = mallory.peer.signaling
      .members()
      .map((m) => m.peer)
      .filter((p) => p !== ownerAddress && p !== firstHost && p !== mallory.node.self);
    expect(otherAddresses).toHaveLength(1);
    const secondHost = otherAddresses[0]!;
    const browsers = [ownerAddress, firstHost, secondHost];
    for (const p of browsers) mallory.node.mesh.pin(p);
    await eventually(
      "mallory linked to every browser",
      () => browsers.every((p) => mallory.node.mesh.isOpen(p)),
      {
        timeoutMs: 30_000,
      },
    );
    const hostBoxKey = mallory.node.presenceBoard.presences().get(firstHost)?.presence.boxKey;
    expect(hostBoxKey).toBeDefined();

    // The move starts: the hostile strikes as soon as it hears the owner's epoch-2 lease.
    const epoch2 = new Promise<StateEntry>((resolve) => {
      const off = mallory.node.store.on("change", (slot) => {
        const lease = (slot.value as SignedEntry<Lease> | null)?.payload;
        if (slot.author === ownerId && slot.space === "leases" && lease?.vmId === vmId && lease.epoch === 2) {
          off();
          resolve(slot.entry);
        }
      });
    });
    await owner.getByRole("button", { name: "Move e2e-vm" }).click();
    const newEntry = await epoch2;
    const newLease = newEntry.payload.value as SignedEntry<Lease>;
    expect(newLease.payload).toMatchObject({ vmId, epoch: 2, host: secondHost });

    // (1) Replay: every genuine entry it kept of the owner and the hosts, superseded ones too.
    const replayed = mallory.heard
      .filter((h) => h.author === ownerId || h.author === hostId)
      .map((h) => h.entry);
    expect(replayed).toContainEqual(oldEntry);
    expect(mallory.broadcast(replayed)).toBeGreaterThanOrEqual(browsers.length);

    // (2a) "Deletes" in its own slots, and the owner's genuine epoch-1 lease and a lease of its own there.
    const store = mallory.node.store;
    await store.put("vms", vmId, null);
    await store.put("leases", leaseSlot(vmId, 2), null);
    await store.put("checkpoints", vmId, null);
    await store.put("leases", leaseSlot(vmId, 1), oldLease);
    await store.put(
      "leases",
      leaseSlot(vmId, 3),
      await signEntry(mallory.node.identity, LEASE_KIND, {
        vmId,
        epoch: 3,
        host: firstHost,
        issuedAt: Date.now(),
        previous: await leaseDigest(newLease),
        replicas: [],
      } satisfies Lease),
    );

    // (2b) Forged entries for the owner's and A's slots: tombstones far ahead of their seq, the
    // epoch-1 lease moved into the epoch-2 slot, and the owner's genuine entry retargeted there.
    const forged = [
      await mallory.forge(ownerKey, { space: "vms", key: vmId, seq: FORGED_SEQ, value: null }),
      await mallory.forge(ownerKey, {
        space: "leases",
        key: leaseSlot(vmId, 2),
        seq: FORGED_SEQ,
        value: null,
      }),
      await mallory.forge(ownerKey, {
        space: "leases",
        key: leaseSlot(vmId, 1),
        seq: FORGED_SEQ,
        value: null,
      }),
      await mallory.forge(ownerKey, {
        space: "leases",
        key: leaseSlot(vmId, 2),
        seq: FORGED_SEQ + 1,
        value: oldLease,
      }),
      { ...oldEntry, payload: { ...oldEntry.payload, key: leaseSlot(vmId, 2), seq: FORGED_SEQ + 2 } },
      await mallory.forge(hostKey, { space: "checkpoints", key: vmId, seq: FORGED_SEQ, value: null }),
    ];
    expect(mallory.broadcast(forged)).toBeGreaterThanOrEqual(browsers.length);

    // (3) The owner's epoch-1 `start` replayed to A, with a VM key the hostile made and sealed to A.
    await host.locator('#contribute-status[data-hosting="0"]').waitFor({ timeout: 60_000 });
    const sealed = await sealTo(
      hostBoxKey!,
      new TextEncoder().encode(await exportVmKey(await createVmKey())),
      vmKeyContext(vmId, 1),
    );
    const repliesBefore = mallory.vmReplies.length;
    mallory.node.mesh
      .channel(VM_PROTOCOL)
      .send(
        firstHost,
        encodeVmMessage({ t: "start", vm: vmEntry, lease: oldLease, key: sealed, restore: [] }),
      );
    await eventually(
      "A answered the replayed start",
      () =>
        mallory.vmReplies
          .slice(repliesBefore)
          .some((r) => r.from === firstHost && r.m.t === "status" && r.m.vmId === vmId),
      { timeoutMs: 30_000 },
    );
    const answer = mallory.vmReplies
      .slice(repliesBefore)
      .find((r) => r.from === firstHost && r.m.t === "status" && r.m.vmId === vmId)!.m;
    expect(answer).toMatchObject({ t: "status", state: "refused", code: "not-owner" });

    // The move completes on B: one row, running on B, epoch 2; B runs one VM, A none.
    await owner.waitForFunction(
      (second) => {
        const rows = document.querySelectorAll<HTMLElement>("#my-vms-list tr");
        return rows.length === 1 && rows[0]!.dataset.state === "running" && rows[0]!.dataset.host === second;
      },
      secondHost,
      { timeout: 60_000 },
    );
    await other.locator('#contribute-status[data-hosting="1"]').waitFor({ timeout: 30_000 });

    // The VM answers on B with the file written before the move.
    await shell.waitForText("root@spare", 30_000);
    await shell.run("cat /root/note.txt");
    expect(await shell.text()).toContain("kept-42");
    await shell.run("echo still-$((1+2))");
    expect(await shell.text()).toContain("still-3");

    // Any reader of the room's state, the hostile's slots among the rest, finds the owner's VM,
    // its epoch-2 lease on B, and a checkpoint record from a host that held a lease.
    const book = new VmBook(mallory.node.store);
    expect(store.get(mallory.node.identity.peerId, "vms", vmId)).toBeNull();
    expect((await book.vm(vmId))?.entry).toEqual(vmEntry);
    expect((await book.allVms()).map((v) => v.vm.vmId)).toEqual([vmId]);
    expect(await book.currentLease(vmId, ownerId)).toMatchObject({ lease: { epoch: 2, host: secondHost } });
    const checkpoint = await book.latestCheckpoint(vmId, ownerId);
    expect([firstHost, secondHost]).toContain(checkpoint?.record.host);
    const settledMs = Date.now();
    // The owner signs as its VM runs (receipts), so its feed moves on while digests travel: a page
    // matches if it holds a state of the owner that the hostile's verifying store also held, at least
    // as new as the owner's feed when the move settled.
    const settledSeq = new Map(
      [ownerId, mallory.node.identity.peerId].map((a) => [a, mallory.own(a)?.seq ?? 0] as const),
    );

    // Every page holds of the owner only what the owner signed (a state the hostile's own verifying
    // store held), nothing at the forged seq for the owner or A, and the hostile's own entries as its own.
    await eventually(
      "every browser's digest, sent after the attack, shows the owner's genuine entries",
      () =>
        browsers.every((p) => {
          const heard = mallory.digests.get(p);
          if (!heard || heard.atMs <= settledMs) return false;
          for (const [author, x] of heard.d)
            if (x.seq >= FORGED_SEQ) throw new Error(`${p} holds a forged entry of ${author}`);
          return [...settledSeq].every(([author, seq]) => {
            const theirs = heard.d.get(author);
            return theirs !== undefined && theirs.seq >= seq && mallory.heldOnce(author, theirs);
          });
        }),
      { timeoutMs: 45_000, intervalMs: 200 },
    );
    expect(mallory.own(ownerId)!.seq).toBeLessThan(FORGED_SEQ);
    expect(mallory.own(hostId)!.seq).toBeLessThan(FORGED_SEQ);

    // What a user sees at the end: still one VM, on B, epoch 2; B runs one, A none.
    expect(await vmRows(owner).count()).toBe(1);
    expect(await vmRows(owner).first().getAttribute("data-state")).toBe("running");
    expect(await vmRows(owner).first().getAttribute("data-host")).toBe(secondHost);
    expect(await vmRows(owner).first().getAttribute("data-epoch")).toBe("2");
    expect(await hostingCount(other)).toBe(1);
    expect(await hostingCount(host)).toBe(0);

    for (const c of [ownerCtx, aCtx, bCtx]) await c.close();
  });
});
