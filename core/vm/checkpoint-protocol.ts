// Asking a holder for a checkpoint's sealed bytes, and what travels with those
// bytes as transfer metadata. Pure encode/parse; everything received is parsed
// into the types below, so no part of the runtimes casts untrusted metadata.
import { CHANNEL_IDS, type Protocol } from "../net/channels.ts";
import { isCount, isMatch, isObject, SHA256_PATTERN } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";

export const CHECKPOINT_PROTOCOL: Protocol = { name: "checkpoint", id: CHANNEL_IDS.checkpoint, version: 1 };

const VM_ID = /^[0-9a-f]{32}$/;

/** Which checkpoint: a VM, the epoch of the lease it was made under, and its number in that epoch. */
export interface CheckpointRef {
  vmId: string;
  epoch: number;
  seq: number;
}

export const refKey = (r: CheckpointRef) => `${r.vmId}/${r.epoch}/${r.seq}`;

export type CheckpointMessage =
  /** Anyone → a holder: send me the sealed bytes of this checkpoint. */
  | ({ t: "fetch" } & CheckpointRef)
  /** A holder → the asker: it does not hold them. */
  | ({ t: "missing" } & CheckpointRef);

export function encodeCheckpointMessage(m: CheckpointMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(m));
}

function parseRef(m: Record<string, unknown>): CheckpointRef | null {
  if (!isMatch(m.vmId, VM_ID) || !isCount(m.epoch) || !isCount(m.seq)) return null;
  return { vmId: m.vmId, epoch: m.epoch, seq: m.seq };
}

export function parseCheckpointMessage(payload: Uint8Array): CheckpointMessage | null {
  if (payload.length > 1024) return null;
  const m = parseJsonBytes(payload);
  if (!isObject(m) || (m.t !== "fetch" && m.t !== "missing")) return null;
  const ref = parseRef(m);
  return ref ? { t: m.t, ...ref } : null;
}

/** The metadata a checkpoint's transfer carries: which checkpoint, and the hash of its sealed bytes. */
export interface CheckpointMeta extends CheckpointRef {
  purpose: "checkpoint";
  sha256: string;
}

export function checkpointMeta(ref: CheckpointRef, sha256: string): CheckpointMeta {
  return { purpose: "checkpoint", vmId: ref.vmId, epoch: ref.epoch, seq: ref.seq, sha256 };
}

/** A transfer's metadata, if it is a checkpoint's (whoever sent it). */
export function parseCheckpointMeta(meta: unknown): CheckpointMeta | null {
  if (!isObject(meta) || meta.purpose !== "checkpoint" || !isMatch(meta.sha256, SHA256_PATTERN)) return null;
  const ref = parseRef(meta);
  return ref ? checkpointMeta(ref, meta.sha256) : null;
}
