// Messages between a VM's owner and its host (and checkpoint holders), on the
// mesh's VM channel as JSON, and console bytes on the shell channel. Parsed at
// the edge into a typed union; signatures inside are checked by the runtimes.

import type { SignedEntry } from "../crypto/signed.ts";
import type { SealedBox } from "../crypto/vm-crypto.ts";
import type { Receipt } from "../ledger/receipt.ts";
import { CHANNEL_IDS, type Protocol } from "../net/channels.ts";
import {
  type AttachGrant,
  type CheckpointRecord,
  type Lease,
  VM_ID_PATTERN,
  type VmRecord,
} from "../state/vm-records.ts";
import { isCount, isObject } from "../util/guards.ts";
import { fromHex, toHex } from "../util/hex.ts";
import { parseJsonBytes } from "../util/json.ts";
import type { WebCounters } from "./web-host.ts";

/** VM control between owners and hosts: JSON messages, one per payload. */
export const VM_PROTOCOL: Protocol = { name: "vm", id: CHANNEL_IDS.vm, version: 5 };
/** A VM's console bytes, each payload prefixed with the VM id. */
export const SHELL_PROTOCOL: Protocol = { name: "shell", id: CHANNEL_IDS.shell, version: 1 };

export type HostedState = "restoring" | "running" | "stopped" | "refused" | "failed";

/** Where a lease's payment stands on its host (payment-watch.ts). */
export type PaymentState = "paid" | "throttled" | "paused";

/** Why a host refused or failed a VM: a code to act on; the detail is for people. */
export const HOST_REFUSALS = [
  "unsigned-lease",
  "not-owner",
  "broken-chain",
  "other-host",
  "deleted",
  "newer-lease",
  "not-contributing",
  "no-slot",
  "no-memory",
  "key-does-not-open",
  "no-restorable-checkpoint",
  "start-failed",
  "no-credit",
  "cheater",
] as const;
export type HostRefusal = (typeof HOST_REFUSALS)[number];

export type VmMessage =
  /**
   * Owner → host: run this VM under this lease, with this epoch's key; restore the
   * first checkpoint that checks out. `restoreKeys` are the keys of the older epochs
   * those checkpoints were made in (and no others); `leases` are the owner's leases
   * of those epochs and the one before this (the document may have lost them).
   */
  | {
      t: "start";
      vm: SignedEntry<VmRecord>;
      lease: SignedEntry<Lease>;
      key: SealedBox;
      restore: SignedEntry<CheckpointRecord>[];
      restoreKeys?: { epoch: number; key: SealedBox }[];
      leases?: SignedEntry<Lease>[];
    }
  /** Host → owner: the signed record of a checkpoint it just sent (the document's copy may be deleted). */
  | { t: "checkpoint"; record: SignedEntry<CheckpointRecord> }
  /** Host → owner; `outbound`: whether the host lets this lease's guest reach the internet through it. */
  | {
      t: "status";
      vmId: string;
      epoch: number;
      state: HostedState;
      code: HostRefusal | null;
      detail: string;
      outbound: boolean;
      /** What the VM's disk held at its newest checkpoint, when the host knows. */
      diskBytes?: number;
    }
  /** Owner's tab → host: let me use the console (signed by the owner). */
  | { t: "attach"; grant: SignedEntry<AttachGrant> }
  | { t: "attached"; vmId: string; transcript: string }
  | { t: "detach"; vmId: string }
  /** Owner → host: checkpoint now (before a stop or a move). */
  | { t: "flush"; vmId: string }
  /** Host → owners: this page is going away; move these VMs now. */
  | { t: "leaving"; vmIds: string[]; reason?: string }
  /**
   * Host → owner: its meter for the lease of `epoch` reads `milli` milli-credits, and
   * the VM's published ports served `web` in this lease (both cumulative).
   */
  | { t: "meter"; vmId: string; epoch: number; milli: number; web: WebCounters }
  /** Owner → host: the owner's newest signed receipt for the host's lease. */
  | { t: "receipt"; receipt: SignedEntry<Receipt> }
  /** Host → owner: how the lease's payment stands, and what the host does about it. */
  | { t: "payment"; vmId: string; epoch: number; state: PaymentState; unpaidMilli: number; reason: string };

const PAYMENT_STATES = new Set<PaymentState>(["paid", "throttled", "paused"]);
const STATES = new Set<HostedState>(["restoring", "running", "stopped", "refused", "failed"]);
const REFUSALS = new Set<HostRefusal>(HOST_REFUSALS);
const isVmId = (v: unknown): v is string => typeof v === "string" && VM_ID_PATTERN.test(v);
const isBox = (v: unknown): v is SealedBox =>
  isObject(v) && typeof v.ephemeral === "string" && typeof v.sealed === "string";
const text = (v: unknown, max: number) => (typeof v === "string" ? v.slice(0, max) : "");
const isCounters = (v: unknown): v is WebCounters =>
  isObject(v) && isCount(v.requests) && isCount(v.bytesIn) && isCount(v.bytesOut);

export function encodeVmMessage(message: VmMessage): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(message));
}

/** Parses a VM-channel payload; null for anything malformed. */
export function parseVmMessage(payload: Uint8Array): VmMessage | null {
  if (payload.length > 1024 * 1024) return null;
  const m = parseJsonBytes(payload);
  if (!isObject(m)) return null;
  switch (m.t) {
    case "start":
      if (
        !isObject(m.vm) ||
        !isObject(m.lease) ||
        !isObject(m.key) ||
        !Array.isArray(m.restore) ||
        m.restore.length > 4
      ) {
        return null;
      }
      if (!isBox(m.key)) return null;
      return {
        t: "start",
        vm: m.vm as unknown as SignedEntry<VmRecord>,
        lease: m.lease as unknown as SignedEntry<Lease>,
        key: { ephemeral: m.key.ephemeral, sealed: m.key.sealed },
        restore: m.restore.filter(isObject) as unknown as SignedEntry<CheckpointRecord>[],
        restoreKeys: (Array.isArray(m.restoreKeys) ? m.restoreKeys.slice(0, 4) : []).flatMap((k) =>
          isObject(k) && isCount(k.epoch) && isBox(k.key)
            ? [{ epoch: k.epoch, key: { ephemeral: k.key.ephemeral, sealed: k.key.sealed } }]
            : [],
        ),
        leases: (Array.isArray(m.leases) ? m.leases.slice(0, 8) : []).filter(
          isObject,
        ) as unknown as SignedEntry<Lease>[],
      };
    case "checkpoint":
      return isObject(m.record)
        ? { t: "checkpoint", record: m.record as unknown as SignedEntry<CheckpointRecord> }
        : null;
    case "status":
      if (!isVmId(m.vmId) || !isCount(m.epoch) || !STATES.has(m.state as HostedState)) return null;
      return {
        t: "status",
        vmId: m.vmId,
        epoch: m.epoch,
        state: m.state as HostedState,
        code: REFUSALS.has(m.code as HostRefusal) ? (m.code as HostRefusal) : null,
        detail: text(m.detail, 500),
        outbound: m.outbound === true,
        ...(isCount(m.diskBytes) && { diskBytes: m.diskBytes }),
      };
    case "attach":
      return isObject(m.grant)
        ? { t: "attach", grant: m.grant as unknown as SignedEntry<AttachGrant> }
        : null;
    case "attached":
      return isVmId(m.vmId)
        ? { t: "attached", vmId: m.vmId, transcript: text(m.transcript, 64 * 1024) }
        : null;
    case "detach":
      return isVmId(m.vmId) ? { t: "detach", vmId: m.vmId } : null;
    case "flush":
      return isVmId(m.vmId) ? { t: "flush", vmId: m.vmId } : null;
    case "meter":
      if (!isVmId(m.vmId) || !isCount(m.epoch) || !isCount(m.milli) || !isCounters(m.web)) return null;
      return {
        t: "meter",
        vmId: m.vmId,
        epoch: m.epoch,
        milli: m.milli,
        web: { requests: m.web.requests, bytesIn: m.web.bytesIn, bytesOut: m.web.bytesOut },
      };
    case "receipt":
      // Shape and signature are checked by the host (core/ledger/verify.ts).
      return isObject(m.receipt)
        ? { t: "receipt", receipt: m.receipt as unknown as SignedEntry<Receipt> }
        : null;
    case "payment":
      if (!isVmId(m.vmId) || !isCount(m.epoch) || !PAYMENT_STATES.has(m.state as PaymentState)) return null;
      if (!isCount(m.unpaidMilli)) return null;
      return {
        t: "payment",
        vmId: m.vmId,
        epoch: m.epoch,
        state: m.state as PaymentState,
        unpaidMilli: m.unpaidMilli,
        reason: text(m.reason, 500),
      };
    case "leaving":
      if (!Array.isArray(m.vmIds) || m.vmIds.length > 64 || !m.vmIds.every(isVmId)) return null;
      return typeof m.reason === "string"
        ? { t: "leaving", vmIds: m.vmIds, reason: text(m.reason, 200) }
        : { t: "leaving", vmIds: m.vmIds };
    default:
      return null;
  }
}

const VM_ID_BYTES = 16;

/** Console bytes for (or from) one VM. */
export function encodeShell(vmId: string, bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(VM_ID_BYTES + bytes.length);
  out.set(fromHex(vmId, VM_ID_BYTES), 0);
  out.set(bytes, VM_ID_BYTES);
  return out;
}

export function parseShell(payload: Uint8Array): { vmId: string; bytes: Uint8Array } | null {
  if (payload.length < VM_ID_BYTES) return null;
  return { vmId: toHex(payload.subarray(0, VM_ID_BYTES)), bytes: payload.subarray(VM_ID_BYTES) };
}
