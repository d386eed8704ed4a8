// The owner's own copies of its VMs' sealed checkpoints, each stored with its
// signed record. Taken only from the host that held the lease of the
// checkpoint's epoch, and only when the bytes open with the key the owner issued
// for that epoch under that epoch and number: whatever a sender claims, nothing
// else is stored. A checkpoint whose record has not arrived yet (the host
// records it once someone holds it) is kept pending until the record comes, from
// the host directly or from the document; the newest two with records are kept,
// and pending ones never push those out.
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import { unseal } from "../crypto/vm-crypto.ts";
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { VerifiedCheckpoint, VmBook } from "../state/vm-book.ts";
import {
  CHECKPOINT_KIND,
  type CheckpointRecord,
  type Lease,
  parseCheckpointRecord,
} from "../state/vm-records.ts";
import { Emitter } from "../util/emitter.ts";
import { isCount, isMatch, isObject, SHA256_PATTERN } from "../util/guards.ts";
import type { CheckpointKeeper } from "./checkpoint-exchange.ts";
import type { CheckpointMeta, CheckpointRef } from "./checkpoint-protocol.ts";
import { checkpointContext } from "./engine.ts";
import { VmKeys } from "./vm-keys.ts";

export interface StoredCheckpoint {
  epoch: number;
  seq: number;
  sha256: string;
  sealed: Uint8Array;
  /** Its signed record; null while it has not arrived (the bytes opened with the epoch's key). */
  entry: SignedEntry<CheckpointRecord> | null;
}

/** What the owner knows of its leases (its own memory first, then the document). */
export interface OwnerLeases {
  leaseOf(vmId: string, epoch: number): Promise<Lease | null>;
  currentLease(vmId: string): Promise<Lease | null>;
}

/** Checkpoints with records kept per VM, and pending ones (newer than those) at most. */
const KEPT_PER_VM = 2;
const PENDING_PER_VM = 2;
/** Records that came before their bytes, waiting for them. */
const EARLY_RECORDS = 64;

function parseStored(value: unknown): StoredCheckpoint[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (c): c is StoredCheckpoint =>
      isObject(c) &&
      isCount(c.epoch) &&
      isCount(c.seq) &&
      isMatch(c.sha256, SHA256_PATTERN) &&
      c.sealed instanceof Uint8Array &&
      (c.entry === null || isObject(c.entry)),
  );
}

const newestFirst = (a: { epoch: number; seq: number }, b: { epoch: number; seq: number }) =>
  b.epoch - a.epoch || b.seq - a.seq;

/** The newest with records, and pending ones only if newer than all of those. */
function retain(list: StoredCheckpoint[]): StoredCheckpoint[] {
  const sorted = [...list].sort(newestFirst);
  const recorded = sorted.filter((c) => c.entry).slice(0, KEPT_PER_VM);
  const newestRecorded = recorded[0];
  const pending = sorted
    .filter((c) => !c.entry && (!newestRecorded || newestFirst(c, newestRecorded) < 0))
    .slice(0, PENDING_PER_VM);
  return [...pending, ...recorded].sort(newestFirst);
}

export class OwnerCheckpoints implements CheckpointKeeper {
  private readonly events = new Emitter<{ kept: (vmId: string) => void }>();
  private readonly keys: VmKeys;
  private leases: OwnerLeases;
  /** Store changes, one after another, so a record and its bytes never race. */
  private writes: Promise<void> = Promise.resolve();
  private readonly early = new Map<string, SignedEntry<CheckpointRecord>>();

  constructor(
    private readonly o: {
      owner: string;
      book: VmBook;
      store: KeyValueStore;
      /** The owner's VM keys (the master key per VM). */
      keys: KeyValueStore;
    },
  ) {
    this.keys = new VmKeys(o.keys);
    this.leases = {
      leaseOf: async (vmId, epoch) =>
        (await o.book.leasesOf(vmId, o.owner)).find((l) => l.lease.epoch === epoch)?.lease ?? null,
      currentLease: async (vmId) => (await o.book.currentLease(vmId, o.owner))?.lease ?? null,
    };
  }

  /** Uses what the owner runtime knows of its leases (it remembers leases the document lost). */
  useLeases(leases: OwnerLeases): void {
    this.leases = leases;
  }

  /** Calls `fn` with the VM's id each time one of its checkpoints was kept. */
  onKept(fn: (vmId: string) => void): () => void {
    return this.events.on("kept", fn);
  }

  /** This owner's checkpoints of a VM, newest first. */
  async list(vmId: string): Promise<StoredCheckpoint[]> {
    return parseStored(await this.o.store.get(vmId)).sort(newestFirst);
  }

  async newest(vmId: string): Promise<StoredCheckpoint | null> {
    return (await this.list(vmId))[0] ?? null;
  }

  private async isMine(vmId: string): Promise<boolean> {
    const vm = await this.o.book.vm(vmId);
    return !!vm && vm.vm.owner === this.o.owner && !vm.vm.deleted;
  }

  async wants(remote: PeerAddress, meta: CheckpointMeta): Promise<boolean> {
    if (!(await this.isMine(meta.vmId))) return false;
    return (await this.leases.leaseOf(meta.vmId, meta.epoch))?.host === remote;
  }

  /** Keeps the bytes if they open with the epoch's key as this checkpoint; pairs them with their record. */
  async keep(remote: PeerAddress, meta: CheckpointMeta, sealed: Uint8Array): Promise<void> {
    if (!(await this.wants(remote, meta))) return;
    if (!(await this.opens(meta, sealed))) return;
    const entry = await this.takeEarly(meta);
    await this.change(meta.vmId, (list) => [
      { epoch: meta.epoch, seq: meta.seq, sha256: meta.sha256, sealed, entry },
      ...list.filter((c) => c.epoch !== meta.epoch || c.seq !== meta.seq),
    ]);
    this.events.emit("kept", meta.vmId);
  }

  /** Whether `sealed` opens with the key this owner issued for the epoch, as checkpoint `ref`. */
  async opens(ref: CheckpointRef, sealed: Uint8Array): Promise<boolean> {
    const key = await this.keys.forEpoch(ref.vmId, ref.epoch);
    if (!key) return false;
    try {
      await unseal(key, sealed, checkpointContext(ref.vmId, ref.epoch, ref.seq));
      return true;
    } catch {
      return false;
    }
  }

  /**
   * A checkpoint record, from its host or the document: checked against the lease of
   * its epoch and the bytes held here, then stored with them (or held until they come).
   */
  async record(value: unknown): Promise<boolean> {
    const v = await verifyEntry(value, CHECKPOINT_KIND, parseCheckpointRecord);
    if (!v || !(await this.isMine(v.payload.vmId))) return false;
    const r = v.payload;
    const lease = await this.leases.leaseOf(r.vmId, r.epoch);
    if (!lease?.host || lease.host !== r.host || peerIdOf(lease.host) !== v.signer) return false;
    const entry = value as SignedEntry<CheckpointRecord>;
    let paired = false;
    let held = false;
    await this.change(r.vmId, (list) => {
      const match = list.find((c) => c.epoch === r.epoch && c.seq === r.seq);
      held = !!match;
      if (match && !match.entry && match.sha256 === r.sha256 && match.sealed.length === r.bytes) {
        match.entry = entry;
        paired = true;
      }
      return list;
    });
    if (!held) {
      if (this.early.size >= EARLY_RECORDS) this.early.clear();
      this.early.set(`${r.vmId}/${r.epoch}/${r.seq}`, entry);
    }
    if (paired) this.events.emit("kept", r.vmId);
    return paired;
  }

  private async takeEarly(meta: CheckpointMeta): Promise<SignedEntry<CheckpointRecord> | null> {
    const id = `${meta.vmId}/${meta.epoch}/${meta.seq}`;
    const entry = this.early.get(id);
    this.early.delete(id);
    return entry && entry.payload.sha256 === meta.sha256 ? entry : null;
  }

  async load(ref: CheckpointRef): Promise<Uint8Array | null> {
    const item = (await this.list(ref.vmId)).find((c) => c.epoch === ref.epoch && c.seq === ref.seq);
    return item?.sealed ?? null;
  }

  /** This owner's own tabs, and the host of the VM's current lease (restoring it). */
  async mayServe(remote: PeerAddress, ref: CheckpointRef): Promise<boolean> {
    if (peerIdOf(remote) === this.o.owner) return true;
    return (await this.leases.currentLease(ref.vmId))?.host === remote;
  }

  /** Pairs the document's newest record with the bytes it describes, if they are held here. */
  async pair(_vmId: string, latest: VerifiedCheckpoint): Promise<void> {
    await this.record(latest.entry);
  }

  async remove(vmId: string): Promise<void> {
    this.keys.forget(vmId);
    await this.change(vmId, () => null);
  }

  private change(vmId: string, fn: (list: StoredCheckpoint[]) => StoredCheckpoint[] | null): Promise<void> {
    const write = this.writes.then(async () => {
      const next = fn(await this.list(vmId));
      if (next === null) await this.o.store.delete(vmId);
      else await this.o.store.set(vmId, retain(next));
    });
    this.writes = write.catch(() => {});
    return write;
  }
}
