// Presence: what each live peer tells the others about itself (the presence board,
// not the document). It is signed like everything else, so nobody can pose as
// another peer; readers verify it and keep only the peers whose proof holds.

import type { Identity } from "../crypto/identity.ts";
import { type SignedEntry, signEntry, verifyEntry } from "../crypto/signed.ts";
import { PEER_ADDRESS_PATTERN, type PeerAddress, peerIdOf } from "../net/peer-address.ts";
import { isBase64UrlOf } from "../util/base64url.ts";
import { isShortText } from "../util/guards.ts";

export const PRESENCE_KIND = "presence/1";

export interface Capacity {
  /** Whether this peer hosts VMs for others. */
  contributing: boolean;
  cores: number;
  memoryMiB: number;
  /** CPU budget offered, percent of one core. */
  budgetPct: number;
  slots: number;
}

export interface Presence {
  peer: PeerAddress;
  /** The X25519 key secrets for this peer are sealed to (base64url). */
  boxKey: string;
  name: string;
  appVersion: string;
  capacity: Capacity;
  load: { vms: number; usedPct: number };
  /** When this was signed (ms since the epoch); old presence is stale. */
  at: number;
}

const num = (v: unknown, max: number): v is number =>
  typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= max;

export function parsePresence(v: unknown): Presence | null {
  if (typeof v !== "object" || v === null) return null;
  const p = v as Record<string, unknown>;
  const c = p.capacity as Record<string, unknown> | undefined;
  const l = p.load as Record<string, unknown> | undefined;
  if (typeof p.peer !== "string" || !PEER_ADDRESS_PATTERN.test(p.peer)) return null;
  if (!isBase64UrlOf(p.boxKey, 32)) return null;
  if (!isShortText(p.name, 40) || !isShortText(p.appVersion, 40)) return null;
  if (!c || typeof c.contributing !== "boolean" || !num(c.cores, 1024) || !num(c.memoryMiB, 1 << 24))
    return null;
  if (!num(c.budgetPct, 100 * 1024) || !num(c.slots, 1024)) return null;
  if (!l || !num(l.vms, 1024) || !num(l.usedPct, 100 * 1024) || !num(p.at, Number.MAX_SAFE_INTEGER))
    return null;
  return {
    peer: p.peer,
    boxKey: p.boxKey,
    name: p.name,
    appVersion: p.appVersion,
    capacity: {
      contributing: c.contributing,
      cores: c.cores,
      memoryMiB: c.memoryMiB,
      budgetPct: c.budgetPct,
      slots: c.slots,
    },
    load: { vms: l.vms, usedPct: l.usedPct },
    at: p.at,
  };
}

export function signPresence(identity: Identity, presence: Presence): Promise<SignedEntry<Presence>> {
  return signEntry(identity, PRESENCE_KIND, presence);
}

/** A presence whose signer is the peer it names, or null. */
export async function verifyPresence(value: unknown): Promise<Presence | null> {
  const v = await verifyEntry(value, PRESENCE_KIND, parsePresence);
  return v && peerIdOf(v.payload.peer) === v.signer ? v.payload : null;
}
