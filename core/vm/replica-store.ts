// Replicas of other owners' checkpoints, kept as ciphertext this peer cannot
// read: the newest two per VM and a total cap. Taken only from a VM's current
// host, for the epoch of its lease; the owner keeps its own copies elsewhere.
import { type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import type { KeyValueStore } from "../state/storage.ts";
import type { VmBook } from "../state/vm-records.ts";
import { isCount, isObject, isShortText } from "../util/guards.ts";
import type { CheckpointKeeper } from "./checkpoint-exchange.ts";
import type { CheckpointMeta, CheckpointRef } from "./checkpoint-protocol.ts";

const INDEX_KEY = "replica-index";
const DEFAULT_MAX_BYTES = 512 * 1024 * 1024;
const PER_VM = 2;

interface IndexItem {
  key: string;
  vmId: string;
  bytes: number;
}

const replicaKey = (r: CheckpointRef) => `replica/${r.vmId}/${r.epoch}/${r.seq}`;

function parseIndex(value: unknown): IndexItem[] {
  if (!Array.isArray(value)) return [];
  return value.filter(
    (v): v is IndexItem =>
      isObject(v) && isShortText(v.key, 200) && isShortText(v.vmId, 64) && isCount(v.bytes),
  );
}

export class ReplicaStore implements CheckpointKeeper {
  constructor(
    private readonly o: {
      self: () => PeerAddress;
      book: VmBook;
      replicas: KeyValueStore;
      maxBytes?: number;
    },
  ) {}

  async wants(remote: PeerAddress, meta: CheckpointMeta): Promise<boolean> {
    const vm = await this.o.book.vm(meta.vmId);
    if (!vm || vm.vm.deleted || peerIdOf(this.o.self()) === vm.vm.owner) return false;
    const lease = await this.o.book.currentLease(meta.vmId, vm.vm.owner);
    return lease?.lease.host === remote && lease.lease.epoch === meta.epoch;
  }

  async keep(_remote: PeerAddress, meta: CheckpointMeta, sealed: Uint8Array): Promise<void> {
    const { replicas } = this.o;
    const maxBytes = this.o.maxBytes ?? DEFAULT_MAX_BYTES;
    const key = replicaKey(meta);
    const index = parseIndex(await replicas.get(INDEX_KEY)).filter((i) => i.key !== key);
    index.push({ key, vmId: meta.vmId, bytes: sealed.length });
    // Newest first: keep two per VM and stay under the total cap; drop the rest.
    const keep: IndexItem[] = [];
    let total = 0;
    for (const item of [...index].reverse()) {
      const sameVm = keep.filter((k) => k.vmId === item.vmId).length;
      if (sameVm < PER_VM && total + item.bytes <= maxBytes) {
        keep.unshift(item);
        total += item.bytes;
      } else await replicas.delete(item.key);
    }
    if (keep.some((k) => k.key === key)) await replicas.set(key, sealed);
    await replicas.set(INDEX_KEY, keep);
  }

  async load(ref: CheckpointRef): Promise<Uint8Array | null> {
    const value = await this.o.replicas.get(replicaKey(ref));
    return value instanceof Uint8Array ? value : null;
  }
}
