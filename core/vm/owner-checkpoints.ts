// The owner's own copies of its VMs' sealed checkpoints: the newest two per VM,
// each paired with its signed record once the document has it. Taken only from
// the host that held the lease of the checkpoint's epoch.
import type { SignedEntry } from "../crypto/signed.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { CheckpointRecord, VerifiedCheckpoint, VmBook } from "../state/vm-records.ts";
import { Emitter } from "../util/emitter.ts";
import { isCount, isMatch, isObject, SHA256_PATTERN } from "../util/guards.ts";
import type { CheckpointKeeper } from "./checkpoint-exchange.ts";
import type { CheckpointMeta, CheckpointRef } from "./checkpoint-protocol.ts";

export interface StoredCheckpoint {
  epoch: number;
  seq: number;
  sha256: string;
  sealed: Uint8Array;
  entry: SignedEntry<CheckpointRecord> | null;
}

const KEPT_PER_VM = 2;

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

export class OwnerCheckpoints implements CheckpointKeeper {
  private readonly events = new Emitter<{ kept: (vmId: string) => void }>();

  constructor(
    private readonly o: {
      owner: string;
      book: VmBook;
      store: KeyValueStore;
    },
  ) {}

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

  async wants(remote: PeerAddress, meta: CheckpointMeta): Promise<boolean> {
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || vm.vm.owner !== this.o.owner || vm.vm.deleted) return false;
    const leases = await this.o.book.leasesOf(meta.vmId, this.o.owner);
    return leases.some((l) => l.lease.host === remote && l.lease.epoch === meta.epoch);
  }

  async keep(_remote: PeerAddress, meta: CheckpointMeta, sealed: Uint8Array): Promise<void> {
    const item: StoredCheckpoint = {
      epoch: meta.epoch,
      seq: meta.seq,
      sha256: meta.sha256,
      sealed,
      entry: null,
    };
    const others = (await this.list(meta.vmId)).filter((c) => c.epoch !== item.epoch || c.seq !== item.seq);
    await this.o.store.set(meta.vmId, [item, ...others].sort(newestFirst).slice(0, KEPT_PER_VM));
    this.events.emit("kept", meta.vmId);
  }

  async load(ref: CheckpointRef): Promise<Uint8Array | null> {
    const item = (await this.list(ref.vmId)).find((c) => c.epoch === ref.epoch && c.seq === ref.seq);
    return item?.sealed ?? null;
  }

  /** Pairs the document's newest record with the bytes it describes, if they are held here. */
  async pair(vmId: string, latest: VerifiedCheckpoint): Promise<void> {
    const r = latest.record;
    const list = await this.list(vmId);
    const match = list.find((c) => c.epoch === r.epoch && c.seq === r.seq && c.sha256 === r.sha256);
    if (!match || match.entry) return;
    match.entry = latest.entry;
    await this.o.store.set(vmId, list);
  }

  remove(vmId: string): Promise<void> {
    return this.o.store.delete(vmId);
  }
}
