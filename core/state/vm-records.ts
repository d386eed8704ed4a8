// The entries about VMs, each signed by the only party allowed to write it: the
// VM record and its leases by the owner, checkpoint records by the host holding
// the lease of that epoch. Pure types and parsers; vm-book.ts reads them.
import { PEER_ID_PATTERN } from "../crypto/identity.ts";
import { canonicalJson, type SignedEntry } from "../crypto/signed.ts";
import { PEER_ADDRESS_PATTERN, type PeerAddress } from "../net/peer-address.ts";
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
