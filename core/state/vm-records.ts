// What the shared document says about VMs, each entry signed by the only party
// allowed to write it: the VM record and its leases by the owner, checkpoint
// records by the host holding the lease of that epoch. Readers verify all of it.
import type * as Y from "yjs";
import { PEER_ID_PATTERN } from "../crypto/identity.ts";
import { canonicalJson, type SignedEntry, verifyEntry } from "../crypto/signed.ts";
import { PEER_ADDRESS_PATTERN, type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import { sha256Hex } from "../util/bytes.ts";
import { isCount, isMatch, isObject, isShortText, SHA256_PATTERN } from "../util/guards.ts";

export const VM_KIND = "vm/1";
export const LEASE_KIND = "lease/1";
export const CHECKPOINT_KIND = "checkpoint/1";
export const ATTACH_KIND = "attach/1";

export const VM_ID_PATTERN = /^[0-9a-f]{32}$/;

export interface VmRecord {
  /** Derived from the owner and the nonce (vmIdFor), so nobody can claim another owner's VM id. */
  vmId: string;
  nonce: string;
  /** The owner's peer id: only the owner's signature counts. */
  owner: string;
  name: string;
  /** The image the VM started from; checkpoints are deltas against its state. */
  imageId: string;
  memoryBytes: number;
  createdAt: number;
  /** Deleted VMs keep a record so a stale copy of the document cannot bring them back. */
  deleted: boolean;
  updatedAt: number;
}

export interface Lease {
  vmId: string;
  epoch: number;
  /** Who runs the VM in this epoch; null while it is stopped. */
  host: PeerAddress | null;
  issuedAt: number;
  /** SHA-256 of the lease before (epoch - 1), in its canonical form (leaseDigest); null for epoch 1. */
  previous: string | null;
  /** The peers the owner chose to keep replicas of this epoch's checkpoints. */
  replicas: PeerAddress[];
}

/** How many replica peers one lease may name. */
export const MAX_REPLICAS = 4;

export interface CheckpointSummary {
  epoch: number;
  seq: number;
  sha256: string;
  bytes: number;
}

export interface CheckpointRecord extends CheckpointSummary {
  vmId: string;
  /** The host that made it (the lease holder of `epoch`). */
  host: PeerAddress;
  /** Peers that hold the sealed bytes. */
  holders: PeerAddress[];
  rawBytes: number;
  createdAt: number;
  /** The one before, kept by the holders too, in case this one turns out bad. */
  previous: CheckpointSummary | null;
}

/** The owner lets one of its tabs use a VM's console on a host. */
export interface AttachGrant {
  vmId: string;
  host: PeerAddress;
  viewer: PeerAddress;
  at: number;
}

const isTime = isCount;
const isSha256 = (v: unknown): v is string => isMatch(v, SHA256_PATTERN);
const isAddress = (v: unknown): v is string => typeof v === "string" && PEER_ADDRESS_PATTERN.test(v);

export function parseVmRecord(v: unknown): VmRecord | null {
  if (!isObject(v)) return null;
  if (typeof v.vmId !== "string" || !VM_ID_PATTERN.test(v.vmId)) return null;
  if (typeof v.owner !== "string" || !PEER_ID_PATTERN.test(v.owner)) return null;
  if (typeof v.nonce !== "string" || !/^[0-9a-f]{32}$/.test(v.nonce)) return null;
  if (!isShortText(v.name, 60) || !isShortText(v.imageId, 200)) return null;
  if (
    !isCount(v.memoryBytes) ||
    !isTime(v.createdAt) ||
    !isTime(v.updatedAt) ||
    typeof v.deleted !== "boolean"
  ) {
    return null;
  }
  return {
    vmId: v.vmId,
    nonce: v.nonce,
    owner: v.owner,
    name: v.name,
    imageId: v.imageId,
    memoryBytes: v.memoryBytes,
    createdAt: v.createdAt,
    deleted: v.deleted,
    updatedAt: v.updatedAt,
  };
}

export function parseLease(v: unknown): Lease | null {
  if (!isObject(v) || typeof v.vmId !== "string" || !VM_ID_PATTERN.test(v.vmId)) return null;
  if (!isCount(v.epoch) || v.epoch < 1 || !isTime(v.issuedAt)) return null;
  if (v.host !== null && !isAddress(v.host)) return null;
  // The first lease follows nothing; every later one names the one before.
  if (v.epoch === 1 ? v.previous !== null : !isSha256(v.previous)) return null;
  if (!Array.isArray(v.replicas) || v.replicas.length > MAX_REPLICAS || !v.replicas.every(isAddress))
    return null;
  return {
    vmId: v.vmId,
    epoch: v.epoch,
    host: v.host,
    issuedAt: v.issuedAt,
    previous: v.previous as string | null,
    replicas: v.replicas as string[],
  };
}

/** What the next lease names as `previous`: SHA-256 of the whole signed entry in canonical form. */
export function leaseDigest(entry: SignedEntry<Lease>): Promise<string> {
  return sha256Hex(new TextEncoder().encode(canonicalJson(entry)));
}

function parseSummary(v: unknown): CheckpointSummary | null {
  if (!isObject(v) || !isCount(v.epoch) || !isCount(v.seq) || !isSha256(v.sha256) || !isCount(v.bytes))
    return null;
  return { epoch: v.epoch, seq: v.seq, sha256: v.sha256, bytes: v.bytes };
}

export function parseCheckpointRecord(v: unknown): CheckpointRecord | null {
  const summary = parseSummary(v);
  if (!summary || !isObject(v) || typeof v.vmId !== "string" || !VM_ID_PATTERN.test(v.vmId)) return null;
  if (
    !isAddress(v.host) ||
    !Array.isArray(v.holders) ||
    v.holders.length > 16 ||
    !v.holders.every(isAddress)
  ) {
    return null;
  }
  if (!isCount(v.rawBytes) || !isTime(v.createdAt)) return null;
  const previous = v.previous === null ? null : parseSummary(v.previous);
  if (v.previous !== null && !previous) return null;
  return {
    ...summary,
    vmId: v.vmId,
    host: v.host,
    holders: v.holders as string[],
    rawBytes: v.rawBytes,
    createdAt: v.createdAt,
    previous,
  };
}

export function parseAttachGrant(v: unknown): AttachGrant | null {
  if (!isObject(v) || typeof v.vmId !== "string" || !VM_ID_PATTERN.test(v.vmId)) return null;
  if (!isAddress(v.host) || !isAddress(v.viewer) || !isTime(v.at)) return null;
  return { vmId: v.vmId, host: v.host, viewer: v.viewer, at: v.at };
}

/** A VM's id: 16 bytes of SHA-256(owner ‖ nonce), hex. */
export async function vmIdFor(owner: string, nonce: string): Promise<string> {
  return (await sha256Hex(new TextEncoder().encode(`${owner}:${nonce}`))).slice(0, 32);
}

export const leaseKey = (vmId: string, epoch: number) => `${vmId}/${epoch}`;
export const checkpointKey = (vmId: string, epoch: number) => `${vmId}/${epoch}`;

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

/**
 * Reads VMs, leases and checkpoint records out of the document, keeping only
 * entries signed by whoever may write them (verifyEntry remembers the checks it
 * has done, so reading often stays cheap).
 */
export class VmBook {
  readonly vms: Y.Map<unknown>;
  readonly leases: Y.Map<unknown>;
  readonly checkpoints: Y.Map<unknown>;

  constructor(doc: Y.Doc) {
    this.vms = doc.getMap("vms");
    this.leases = doc.getMap("leases");
    this.checkpoints = doc.getMap("checkpoints");
  }

  /** Calls `fn` on any change to VMs, leases or checkpoints; returns the unsubscribe. */
  observe(fn: () => void): () => void {
    for (const map of [this.vms, this.leases, this.checkpoints]) map.observe(fn);
    return () => {
      for (const map of [this.vms, this.leases, this.checkpoints]) map.unobserve(fn);
    };
  }

  async vm(vmId: string): Promise<VerifiedVm | null> {
    const value = this.vms.get(vmId);
    const v = await verifyEntry(value, VM_KIND, parseVmRecord);
    if (!v || v.payload.vmId !== vmId || v.signer !== v.payload.owner) return null;
    if ((await vmIdFor(v.payload.owner, v.payload.nonce)) !== vmId) return null;
    return { vm: v.payload, entry: value as SignedEntry<VmRecord> };
  }

  async allVms(): Promise<VerifiedVm[]> {
    const out = await Promise.all([...this.vms.keys()].map((id) => this.vm(id)));
    return out.filter((v): v is VerifiedVm => v !== null);
  }

  /** A lease entry is valid when the VM's owner signed it. */
  async checkLease(value: unknown, owner: string): Promise<VerifiedLease | null> {
    const v = await verifyEntry(value, LEASE_KIND, parseLease);
    if (!v || v.signer !== owner) return null;
    return { lease: v.payload, entry: value as SignedEntry<Lease> };
  }

  /**
   * Every valid lease of a VM, newest epoch first: signed by the owner, under its
   * own key, and chained. Where the lease before is in the document, the next must
   * name its digest; the chain ends at the first link that does not match (a fork:
   * what came first stands). A link that is missing (deleted by someone) is a gap,
   * not a reason to believe an older lease: the owner puts its leases back, and a
   * host remembers the newest epoch it saw.
   */
  async leasesOf(vmId: string, owner: string): Promise<VerifiedLease[]> {
    const keys = [...this.leases.keys()].filter((k) => k.startsWith(`${vmId}/`));
    const checked = await Promise.all(
      keys.map(async (k) => {
        const l = await this.checkLease(this.leases.get(k), owner);
        // A valid lease counts only under its own key.
        return l && l.lease.vmId === vmId && leaseKey(vmId, l.lease.epoch) === k ? l : null;
      }),
    );
    const valid = checked
      .filter((l): l is VerifiedLease => l !== null)
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
   * lease is the document's, or the one `leaseOf` gives (a lease the reader holds
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
    const lease =
      (await leaseOf?.(v.payload.epoch)) ??
      (await this.checkLease(this.leases.get(leaseKey(vmId, v.payload.epoch)), owner))?.lease ??
      null;
    if (!lease || lease.vmId !== vmId || lease.epoch !== v.payload.epoch) return null;
    if (lease.host === null || peerIdOf(lease.host) !== v.signer) return null;
    if (lease.host !== v.payload.host) return null;
    return { record: v.payload, entry: value as SignedEntry<CheckpointRecord> };
  }

  /** The newest valid checkpoint record of a VM (highest epoch, then seq). */
  async latestCheckpoint(vmId: string, owner: string): Promise<VerifiedCheckpoint | null> {
    const keys = [...this.checkpoints.keys()].filter((k) => k.startsWith(`${vmId}/`));
    const checked = await Promise.all(
      keys.map((k) => this.checkCheckpoint(this.checkpoints.get(k), vmId, owner)),
    );
    const valid = checked.filter((c): c is VerifiedCheckpoint => c !== null);
    valid.sort((a, b) => b.record.epoch - a.record.epoch || b.record.seq - a.record.seq);
    return valid[0] ?? null;
  }
}
