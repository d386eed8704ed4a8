// What the shared state says about VMs. Each entry sits in its author's own slot
// and is signed by the only party allowed to write it: the VM record and its
// leases by the owner, a checkpoint record by the host that held the lease of
// its epoch. Readers verify all of it, and count an entry only from the slot of
// the author who signed it, so nobody can put an old genuine entry back into play.
import { type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import { peerIdOf } from "../net/peer-address.ts";
import type { AuthorStore } from "./author-store.ts";
import {
  CHECKPOINT_KIND,
  type CheckpointRecord,
  LEASE_KIND,
  type Lease,
  leaseDigest,
  parseCheckpointRecord,
  parseLease,
  parseVmRecord,
  VM_KIND,
  type VmRecord,
  vmIdFor,
} from "./vm-records.ts";

/** Leases of a VM kept in the state: a ring of slots, so they grow with VMs, not with moves. */
export const LEASE_SLOTS = 4;
export const leaseSlot = (vmId: string, epoch: number) => `${vmId}/${epoch % LEASE_SLOTS}`;

export interface VerifiedLease {
  lease: Lease;
  entry: SignedEntry<Lease>;
}

export interface VerifiedCheckpoint {
  record: CheckpointRecord;
  entry: SignedEntry<CheckpointRecord>;
}

export interface VerifiedVm {
  vm: VmRecord;
  entry: SignedEntry<VmRecord>;
}

const VM_SPACES = new Set(["vms", "leases", "checkpoints"]);

export class VmBook {
  constructor(readonly store: AuthorStore) {}

  /** Calls `fn` on any change to VMs, leases or checkpoint records; returns the unsubscribe. */
  observe(fn: () => void): () => void {
    return this.store.on("change", (slot) => {
      if (VM_SPACES.has(slot.space)) fn();
    });
  }

  // ---- Writing this peer's own entries

  async publishVm(entry: SignedEntry<VmRecord>): Promise<void> {
    await this.store.put("vms", entry.payload.vmId, entry);
  }

  async publishLease(entry: SignedEntry<Lease>): Promise<void> {
    await this.store.put("leases", leaseSlot(entry.payload.vmId, entry.payload.epoch), entry);
  }

  /** A host's newest checkpoint record of a VM (one slot per VM per host). */
  async publishCheckpoint(entry: SignedEntry<CheckpointRecord>): Promise<void> {
    await this.store.put("checkpoints", entry.payload.vmId, entry);
  }

  // ---- Reading

  async vm(vmId: string): Promise<VerifiedVm | null> {
    for (const slot of this.store.byKey("vms", vmId)) {
      const v = await this.checkVm(slot.value);
      if (v && v.vm.vmId === vmId && v.vm.owner === slot.author) return v;
    }
    return null;
  }

  private async checkVm(value: unknown): Promise<VerifiedVm | null> {
    const v = await verifyEntry(value, VM_KIND, parseVmRecord);
    if (!v || v.signer !== v.payload.owner) return null;
    if ((await vmIdFor(v.payload.owner, v.payload.nonce)) !== v.payload.vmId) return null;
    return { vm: v.payload, entry: value as SignedEntry<VmRecord> };
  }

  async allVms(): Promise<VerifiedVm[]> {
    const out = await Promise.all(
      this.store.list("vms").map(async (slot) => {
        const v = await this.checkVm(slot.value);
        return v && v.vm.owner === slot.author && v.vm.vmId === slot.key ? v : null;
      }),
    );
    return out.filter((v): v is VerifiedVm => v !== null);
  }

  /** The VMs `owner` signed, deleted ones left out. */
  async vmsOf(owner: string): Promise<VerifiedVm[]> {
    const out = await Promise.all(
      this.store.list("vms").map(async (slot) => {
        if (slot.author !== owner) return null;
        const v = await this.checkVm(slot.value);
        return v && v.vm.owner === owner && v.vm.vmId === slot.key && !v.vm.deleted ? v : null;
      }),
    );
    return out.filter((v): v is VerifiedVm => v !== null);
  }

  /** A lease entry is valid when the VM's owner signed it. */
  async checkLease(value: unknown, owner: string): Promise<VerifiedLease | null> {
    const v = await verifyEntry(value, LEASE_KIND, parseLease);
    if (!v || v.signer !== owner) return null;
    return { lease: v.payload, entry: value as SignedEntry<Lease> };
  }

  /**
   * Every valid lease of a VM the state still holds, newest epoch first: signed by
   * the owner, in the owner's own slot for its epoch, and chained: where the lease
   * before is held, the next must name its digest; the chain ends at the first link
   * that does not match (a fork: what came first stands).
   */
  async leasesOf(vmId: string, owner: string): Promise<VerifiedLease[]> {
    const values = Array.from({ length: LEASE_SLOTS }, (_, i) =>
      this.store.get(owner, "leases", `${vmId}/${i}`),
    );
    const checked = await Promise.all(values.filter(Boolean).map((v) => this.checkLease(v, owner)));
    const valid = checked
      .filter((l): l is VerifiedLease => l !== null && l.lease.vmId === vmId)
      .sort((a, b) => a.lease.epoch - b.lease.epoch);
    const byEpoch = new Map(valid.map((l) => [l.lease.epoch, l]));
    const chained: VerifiedLease[] = [];
    for (const l of valid) {
      const before = byEpoch.get(l.lease.epoch - 1);
      if (before && (await leaseDigest(before.entry)) !== l.lease.previous) break;
      chained.push(l);
    }
    return chained.reverse();
  }

  async currentLease(vmId: string, owner: string): Promise<VerifiedLease | null> {
    return (await this.leasesOf(vmId, owner))[0] ?? null;
  }

  /**
   * A checkpoint record is valid when the host of its epoch's lease signed it. The
   * lease is the state's, or the one `leaseOf` gives (a lease the reader holds
   * already verified, e.g. the owner's own or one handed over with a start).
   */
  async checkCheckpoint(
    value: unknown,
    vmId: string,
    owner: string,
    leaseOf?: (epoch: number) => Lease | null | Promise<Lease | null>,
  ): Promise<VerifiedCheckpoint | null> {
    const v = await verifyEntry(value, CHECKPOINT_KIND, parseCheckpointRecord);
    if (!v || v.payload.vmId !== vmId) return null;
    const epoch = v.payload.epoch;
    const lease =
      (await leaseOf?.(epoch)) ??
      (await this.leasesOf(vmId, owner)).find((l) => l.lease.epoch === epoch)?.lease ??
      null;
    if (!lease || lease.vmId !== vmId || lease.epoch !== epoch) return null;
    if (lease.host === null || peerIdOf(lease.host) !== v.signer) return null;
    if (lease.host !== v.payload.host) return null;
    return { record: v.payload, entry: value as SignedEntry<CheckpointRecord> };
  }

  /** The newest valid checkpoint record of a VM (highest epoch, then seq), each from its host's own slot. */
  async latestCheckpoint(vmId: string, owner: string): Promise<VerifiedCheckpoint | null> {
    const checked = await Promise.all(
      this.store.byKey("checkpoints", vmId).map(async (slot) => {
        const c = await this.checkCheckpoint(slot.value, vmId, owner);
        return c && peerIdOf(c.record.host) === slot.author ? c : null;
      }),
    );
    const valid = checked.filter((c): c is VerifiedCheckpoint => c !== null);
    valid.sort((a, b) => b.record.epoch - a.record.epoch || b.record.seq - a.record.seq);
    return valid[0] ?? null;
  }
}
