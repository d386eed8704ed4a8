// The owner's records in the shared state: its VM records and the leases it
// signs, in the owner's own slots (nobody else can change or remove them).
// What it reads back is only what verifies. It remembers its newest record of
// each VM and the newest leases it signed or read, so a tab never falls back
// to an older lease while the state catches up.
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import { clashesWith } from "../guest/virtual-address.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { VerifiedLease, VerifiedVm, VmBook } from "../state/vm-book.ts";
import { LEASE_KIND, type Lease, leaseDigest, VM_KIND, type VmRecord, vmIdFor } from "../state/vm-records.ts";
import { randomHex } from "../util/hex.ts";

const NAME_CHARS = 60;
/** How many of each VM's newest leases this tab remembers. */
const LEASES_KEPT = 4;

export class LeaseBook {
  /** This owner's newest signed record of each VM. */
  private readonly own = new Map<string, SignedEntry<VmRecord>>();
  /** The newest leases of each VM this tab signed or read, by epoch. */
  private readonly ownLeases = new Map<string, Map<number, VerifiedLease>>();

  constructor(
    readonly book: VmBook,
    private readonly identity: Identity,
    private readonly now: () => number,
  ) {}

  get owner(): string {
    return this.identity.peerId;
  }

  /**
   * A new VM's id (derived from the owner and a nonce, so nobody else can claim
   * it) and nonce; never one whose virtual address one of the owner's VMs has.
   */
  async newId(): Promise<{ vmId: string; nonce: string }> {
    const mine = [...this.own.keys(), ...(await this.book.vmsOf(this.owner)).map((v) => v.vm.vmId)];
    for (;;) {
      const nonce = randomHex(16);
      const vmId = await vmIdFor(this.owner, nonce);
      if (!clashesWith(vmId, mine)) return { vmId, nonce };
    }
  }

  /** Signs and writes a new VM's record. */
  async create(
    id: { vmId: string; nonce: string },
    name: string,
    imageId: string,
    memoryBytes: number,
  ): Promise<VmRecord> {
    const at = this.now();
    const record: VmRecord = {
      vmId: id.vmId,
      nonce: id.nonce,
      owner: this.owner,
      name: name.trim().slice(0, NAME_CHARS) || `vm-${id.vmId.slice(0, 6)}`,
      imageId,
      memoryBytes,
      createdAt: at,
      deleted: false,
      updatedAt: at,
    };
    await this.write(record);
    return record;
  }

  /** Marks the VM deleted (the record stays, so a stale copy cannot bring it back). */
  async markDeleted(vm: VmRecord): Promise<void> {
    await this.write({ ...vm, deleted: true, updatedAt: Math.max(this.now(), vm.updatedAt + 1) });
  }

  private async write(record: VmRecord): Promise<void> {
    const entry = await signEntry(this.identity, VM_KIND, record);
    this.own.set(record.vmId, entry);
    await this.book.publishVm(entry);
  }

  /** This owner's VM, if the document holds a record of it that verifies. */
  async mine(vmId: string): Promise<VerifiedVm | null> {
    const vm = await this.book.vm(vmId);
    return vm && vm.vm.owner === this.owner ? vm : null;
  }

  async all(): Promise<VerifiedVm[]> {
    return (await this.book.allVms()).filter((v) => v.vm.owner === this.owner);
  }

  async currentLease(vmId: string): Promise<Lease | null> {
    return (await this.current(vmId))?.lease ?? null;
  }

  /** The newest lease of a VM: the document's, or a newer one this tab holds (the document's may be deleted). */
  async current(vmId: string): Promise<VerifiedLease | null> {
    const inDoc = await this.book.currentLease(vmId, this.owner);
    if (inDoc) this.remember(inDoc);
    const known = [...(this.ownLeases.get(vmId)?.values() ?? [])];
    return known.sort((a, b) => b.lease.epoch - a.lease.epoch)[0] ?? null;
  }

  /** The lease of one epoch of a VM, from what this tab holds or the document. */
  async leaseOf(vmId: string, epoch: number): Promise<VerifiedLease | null> {
    const known = this.ownLeases.get(vmId)?.get(epoch);
    if (known) return known;
    return (await this.book.leasesOf(vmId, this.owner)).find((l) => l.lease.epoch === epoch) ?? null;
  }

  private remember(l: VerifiedLease): void {
    const byEpoch = this.ownLeases.get(l.lease.vmId) ?? new Map<number, VerifiedLease>();
    if (byEpoch.has(l.lease.epoch)) return; // the first one this tab saw of an epoch stands
    byEpoch.set(l.lease.epoch, l);
    for (const epoch of [...byEpoch.keys()].sort((a, b) => b - a).slice(LEASES_KEPT)) byEpoch.delete(epoch);
    this.ownLeases.set(l.lease.vmId, byEpoch);
  }

  /**
   * Signs the next lease of a VM (epoch + 1, chained to the current one): `host` runs
   * it from now on, or nobody (null: stopped); `replicas` keep its checkpoints.
   */
  async writeLease(
    vmId: string,
    host: PeerAddress | null,
    replicas: PeerAddress[] = [],
  ): Promise<{ lease: Lease; entry: SignedEntry<Lease> }> {
    const current = await this.current(vmId);
    const lease: Lease = {
      vmId,
      epoch: (current?.lease.epoch ?? 0) + 1,
      host,
      issuedAt: this.now(),
      previous: current ? await leaseDigest(current.entry) : null,
      replicas: host === null ? [] : replicas,
    };
    const entry = await signEntry(this.identity, LEASE_KIND, lease);
    this.remember({ lease, entry });
    await this.book.publishLease(entry);
    return { lease, entry };
  }

  /** This owner's own newest signed record of a VM (not whatever the document holds now). */
  signedRecord(vmId: string): SignedEntry<VmRecord> | null {
    return this.own.get(vmId) ?? null;
  }

  /** Learns newer records and leases written by this owner's other tabs. */
  async refresh(): Promise<void> {
    for (const { vm, entry } of await this.all()) {
      if ((this.own.get(vm.vmId)?.payload.updatedAt ?? -1) < vm.updatedAt) this.own.set(vm.vmId, entry);
      await this.current(vm.vmId);
    }
  }
}
