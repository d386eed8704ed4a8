// The two messages instances exchange over the bus, encoded and parsed at the
// edge into typed unions: a room event (a member joined or left, for every
// instance) and a signal (for the instance the target's socket is on). `origin`
// is the instance that published, so one ignores its own echo.
import { PEER_ADDRESS_PATTERN } from "../../core/net/peer-address.ts";
import { ROOM_PATTERN } from "../../core/net/signaling-protocol.ts";
import { isMatch } from "../../core/util/guards.ts";
import { INSTANCE_ID_PATTERN } from "./room-bus.ts";

const PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;

export type RoomEvent =
  | { kind: "join"; origin: string; room: string; peer: string; publicKey: string; instance: string }
  | { kind: "leave"; origin: string; room: string; peer: string; instance: string };

export interface BusSignal {
  room: string;
  from: string;
  to: string;
  data: unknown;
}

export function encodeEvent(event: RoomEvent): string {
  return JSON.stringify(event);
}

function parseObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

export function parseEvent(text: string): RoomEvent | null {
  const m = parseObject(text);
  if (!m) return null;
  const { kind, origin, room, peer, instance } = m;
  if (
    !isMatch(origin, INSTANCE_ID_PATTERN) ||
    !isMatch(instance, INSTANCE_ID_PATTERN) ||
    !isMatch(room, ROOM_PATTERN) ||
    !isMatch(peer, PEER_ADDRESS_PATTERN)
  )
    return null;
  if (kind === "leave") return { kind, origin, room, peer, instance };
  if (kind === "join" && isMatch(m.publicKey, PUBLIC_KEY_PATTERN))
    return { kind, origin, room, peer, publicKey: m.publicKey, instance };
  return null;
}

export function encodeSignal(s: BusSignal): string {
  return JSON.stringify(s);
}

/** Signals one batch may carry (signal-batch.ts sends at most MAX_BATCH). */
const MAX_SIGNALS = 1_024;

/** A batch of signals (a JSON array of encodeSignal's objects); the malformed ones are left out. */
export function parseSignals(text: string): BusSignal[] {
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    return [];
  }
  if (!Array.isArray(list)) return [];
  const signals: BusSignal[] = [];
  for (const item of list.slice(0, MAX_SIGNALS)) {
    const s = typeof item === "object" && item !== null ? signalOf(item as Record<string, unknown>) : null;
    if (s) signals.push(s);
  }
  return signals;
}

function signalOf(m: Record<string, unknown>): BusSignal | null {
  if (!("data" in m)) return null;
  const { room, from, to, data } = m;
  if (
    !isMatch(room, ROOM_PATTERN) ||
    !isMatch(from, PEER_ADDRESS_PATTERN) ||
    !isMatch(to, PEER_ADDRESS_PATTERN)
  )
    return null;
  return { room, from, to, data };
}
