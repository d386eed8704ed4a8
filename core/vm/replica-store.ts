// Replicas of other owners' checkpoints, kept as ciphertext this peer cannot
// read: the newest two per VM, a share per owner and a total cap. Taken only
// from a VM's current host, for the epoch of its lease, and only when that
// lease names this peer as a replica (the owner chose it). Served only to the
// VM's owner and its current host. The index is written one change at a time.
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { VmBook } from "../state/vm-book.ts";
import { isCount, isObject, isShortText } from "../util/guards.ts";
import type { CheckpointKeeper } from "./checkpoint-exchange.ts";
import type { CheckpointMeta, CheckpointRef } from "./checkpoint-protocol.ts";

const INDEX_KEY = "replica-index";
const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
/** One owner's share of the space, by default: identities are free, so no one owner may take it all. */
const DEFAULT_OWNER_SHARE = 1 / 8;
const PER_VM = 2;

interface IndexItem {
  key: string;
  vmId: string;
  /** The VM's owner (empty for items written before owners were counted). */
  owner: string;
  bytes: number;
}

const replicaKey = (r: CheckpointRef) => `replica/${r.vmId}/${r.epoch}/${r.seq}`;

function parseIndex(value: unknown): IndexItem[] {
  if (!Array.isArray(value)) return [];
  return value.flatMap((v): IndexItem[] =>
    isObject(v) && isShortText(v.key, 200) && isShortText(v.vmId, 64) && isCount(v.bytes)
      ? [{ key: v.key, vmId: v.vmId, owner: isShortText(v.owner, 64) ? v.owner : "", bytes: v.bytes }]
      : [],
  );
}

export class ReplicaStore implements CheckpointKeeper {
  /** Index changes, one after another: each reads what the one before wrote. */
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly o: {
      self: () => PeerAddress;
      book: VmBook;
      replicas: KeyValueStore;
      maxBytes?: number;
      /** The most bytes one owner's replicas may take (default an eighth of maxBytes). */
      maxBytesPerOwner?: number;
    },
  ) {}

  private get maxBytes(): number {
    return this.o.maxBytes ?? DEFAULT_MAX_BYTES;
  }

  private get maxPerOwner(): number {
    return Math.min(
      this.maxBytes,
      this.o.maxBytesPerOwner ?? Math.floor(this.maxBytes * DEFAULT_OWNER_SHARE),
    );
  }

  async wants(remote: PeerAddress, meta: CheckpointMeta): Promise<boolean> {
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || vm.vm.deleted || peerIdOf(this.o.self()) === vm.vm.owner) return false;
    const lease = (await this.o.book.currentLease(meta.vmId, vm.vm.owner))?.lease;
    return lease?.host === remote && lease.epoch === meta.epoch && lease.replicas.includes(this.o.self());
  }

  keep(_remote: PeerAddress, meta: CheckpointMeta, sealed: Uint8Array): Promise<void> {
    const write = this.writes.then(() => this.write(meta, sealed));
    this.writes = write.catch(() => {});
    return write;
  }

  private async write(meta: CheckpointMeta, sealed: Uint8Array): Promise<void> {
    const { replicas } = this.o;
    const owner = (await this.o.book.vm(meta.vmId))?.vm.owner;
    if (!owner || sealed.length > this.maxPerOwner) return;
    const key = replicaKey(meta);
    const index = parseIndex(await replicas.get(INDEX_KEY)).filter((i) => i.key !== key);
    // Oldest first. To make room, this owner's own oldest replicas go (this VM's first);
    // another owner's never do: if it does not fit then, it is not kept.
    const sum = (items: IndexItem[]) => items.reduce((n, i) => n + i.bytes, 0);
    const drop: IndexItem[] = [];
    const mine = () => index.filter((i) => i.owner === owner && !drop.includes(i));
    const sameVm = () => mine().filter((i) => i.vmId === meta.vmId);
    const kept = () => index.filter((i) => !drop.includes(i));
    while (sameVm().length >= PER_VM) drop.push(sameVm()[0]!);
    while (mine().length > 0 && sum(mine()) + sealed.length > this.maxPerOwner) drop.push(mine()[0]!);
    while (mine().length > 0 && sum(kept()) + sealed.length > this.maxBytes) drop.push(mine()[0]!);
    if (sum(kept()) + sealed.length > this.maxBytes) return;
    const next = [...kept(), { key, vmId: meta.vmId, owner, bytes: sealed.length }];
    await replicas.set(key, sealed);
    await replicas.set(INDEX_KEY, next);
    for (const item of drop) await replicas.delete(item.key);
  }

  async load(ref: CheckpointRef): Promise<Uint8Array | null> {
    const value = await this.o.replicas.get(replicaKey(ref));
    return value instanceof Uint8Array ? value : null;
  }

  /** The VM's owner (any of its tabs) and the host of its current lease. */
  async mayServe(remote: PeerAddress, ref: CheckpointRef): Promise<boolean> {
    const vm = await this.o.book.vm(ref.vmId);
    if (!vm) return false;
    if (peerIdOf(remote) === vm.vm.owner) return true;
    return (await this.o.book.currentLease(ref.vmId, vm.vm.owner))?.lease.host === remote;
  }
}
