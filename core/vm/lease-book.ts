// The owner's records in the document: its VM records and the leases it signs.
// Everything written here is signed by the owner; what it reads back is only
// what verifies. It remembers its newest record of each VM so that, when a
// hostile peer overwrites one, it can put it back.
import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry } from "../crypto/signed.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import {
  LEASE_KIND,
  type Lease,
  leaseKey,
  type VerifiedVm,
  VM_KIND,
  type VmBook,
  type VmRecord,
  vmIdFor,
} from "../state/vm-records.ts";
import { randomHex } from "../util/hex.ts";

const NAME_CHARS = 60;

export class LeaseBook {
  /** This owner's newest signed record of each VM. */
  private readonly own = new Map<string, SignedEntry<VmRecord>>();

  constructor(
    readonly book: VmBook,
    private readonly identity: Identity,
    private readonly now: () => number,
  ) {}

  get owner(): string {
    return this.identity.peerId;
  }

  /** A new VM's id (derived from the owner and a nonce, so nobody else can claim it) and nonce. */
  async newId(): Promise<{ vmId: string; nonce: string }> {
    const nonce = randomHex(16);
    return { vmId: await vmIdFor(this.owner, nonce), nonce };
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
    this.book.vms.set(record.vmId, entry);
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
    return (await this.book.currentLease(vmId, this.owner))?.lease ?? null;
  }

  /** Signs the next lease of a VM (epoch + 1): `host` runs it from now on, or nobody (null: stopped). */
  async writeLease(
    vmId: string,
    host: PeerAddress | null,
  ): Promise<{ lease: Lease; entry: SignedEntry<Lease> }> {
    const current = await this.currentLease(vmId);
    const lease: Lease = { vmId, epoch: (current?.epoch ?? 0) + 1, host, issuedAt: this.now() };
    const entry = await signEntry(this.identity, LEASE_KIND, lease);
    this.book.leases.set(leaseKey(vmId, lease.epoch), entry);
    return { lease, entry };
  }

  /** This owner's own newest signed record of a VM (not whatever the document holds now). */
  signedRecord(vmId: string): SignedEntry<VmRecord> | null {
    return this.own.get(vmId) ?? null;
  }

  /**
   * Puts back this owner's records where someone overwrote them with something that
   * does not verify, and learns newer ones written by its other tabs.
   */
  async repair(): Promise<void> {
    for (const [vmId, entry] of this.own) {
      const inDoc = await this.book.vm(vmId);
      if (!inDoc || inDoc.vm.owner !== this.owner) this.book.vms.set(vmId, entry);
      else if (inDoc.vm.updatedAt > entry.payload.updatedAt) this.own.set(vmId, inDoc.entry);
    }
    for (const { vm, entry } of await this.all()) {
      if ((this.own.get(vm.vmId)?.payload.updatedAt ?? -1) < vm.updatedAt) this.own.set(vm.vmId, entry);
    }
  }
}
