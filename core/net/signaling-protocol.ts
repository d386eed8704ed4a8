// The signaling protocol (see signaling-server/PROTOCOL.md): JSON text frames
// over a WebSocket. Pure encode/parse, shared by the server and every client.
// Everything received is parsed into these unions at the edge; anything else is
// an error with a code.

import { isMatch } from "../util/guards.ts";
import { type IceServer, parseIceServers } from "./ice-servers.ts";
import { PEER_ADDRESS_PATTERN, type PeerAddress } from "./peer-address.ts";

export type { IceServer };

export const SIGNALING_PATH = "/signal";
export const SIGNALING_PROTOCOL = "spare-cycles-signal/1";

export const ROOM_PATTERN = /^[A-Za-z0-9._-]{1,64}$/;
export const SESSION_PATTERN = /^[A-Za-z0-9_-]{1,32}$/;
const PUBLIC_KEY_PATTERN = /^[A-Za-z0-9_-]{43}$/;
const SIGNATURE_PATTERN = /^[A-Za-z0-9_-]{86}$/;
const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,128}$/;

export interface PeerInfo {
  peer: PeerAddress;
  publicKey: string;
}

export type ClientMessage =
  | { type: "join"; room: string; session: string; publicKey: string; signature: string }
  | { type: "signal"; to: PeerAddress; data: unknown }
  | { type: "ping" };

export const ERROR_CODES = [
  "bad-json",
  "bad-message",
  "too-large",
  "rate-limited",
  "not-joined",
  "already-joined",
  "bad-signature",
  "room-full",
  "too-many-sessions",
  "too-many-rooms",
  "too-many-sockets",
  "unknown-peer",
  "join-timeout",
  "shutting-down",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

export type ServerMessage =
  | { type: "challenge"; protocol: string; nonce: string }
  | { type: "joined"; room: string; self: PeerAddress; peers: PeerInfo[]; iceServers: IceServer[] }
  | { type: "peer-joined"; peer: PeerInfo }
  | { type: "peer-left"; peer: PeerAddress }
  | { type: "signal"; from: PeerAddress; data: unknown }
  | { type: "pong" }
  /** Fresh ICE servers (new TURN credentials before the old ones run out): replaces "joined"'s list. */
  | { type: "ice-servers"; iceServers: IceServer[] }
  | { type: "error"; code: ErrorCode; message: string };

/** The bytes a peer signs to join: binds its key to the server's nonce, the room and its session. */
export function joinChallengeBytes(
  nonce: string,
  room: string,
  session: string,
  publicKey: string,
): Uint8Array {
  return new TextEncoder().encode(`${SIGNALING_PROTOCOL}\njoin\n${nonce}\n${room}\n${session}\n${publicKey}`);
}

export function encodeMessage(message: ClientMessage | ServerMessage): string {
  return JSON.stringify(message);
}

export type Parsed<T> = { ok: true; message: T } | { ok: false; code: ErrorCode; reason: string };

const fail = <T>(code: ErrorCode, reason: string): Parsed<T> => ({ ok: false, code, reason });

function parseJsonObject(text: string): Record<string, unknown> | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : null;
}

/** Parses what a client sent. The caller enforces frame size before this. */
export function parseClientMessage(text: string): Parsed<ClientMessage> {
  const m = parseJsonObject(text);
  if (!m) return fail("bad-json", "not a JSON object");
  switch (m.type) {
    case "join":
      if (!isMatch(m.room, ROOM_PATTERN)) return fail("bad-message", "join.room: 1-64 of A-Z a-z 0-9 . _ -");
      if (!isMatch(m.session, SESSION_PATTERN))
        return fail("bad-message", "join.session: 1-32 of A-Z a-z 0-9 _ -");
      if (!isMatch(m.publicKey, PUBLIC_KEY_PATTERN))
        return fail("bad-message", "join.publicKey: 32 bytes, base64url");
      if (!isMatch(m.signature, SIGNATURE_PATTERN))
        return fail("bad-message", "join.signature: 64 bytes, base64url");
      return {
        ok: true,
        message: {
          type: "join",
          room: m.room,
          session: m.session,
          publicKey: m.publicKey,
          signature: m.signature,
        },
      };
    case "signal":
      if (!isMatch(m.to, PEER_ADDRESS_PATTERN)) return fail("bad-message", "signal.to: a peer address");
      if (typeof m.data !== "object" || m.data === null) return fail("bad-message", "signal.data: an object");
      return { ok: true, message: { type: "signal", to: m.to, data: m.data } };
    case "ping":
      return { ok: true, message: { type: "ping" } };
    default:
      return fail("bad-message", `unknown message type ${JSON.stringify(String(m.type)).slice(0, 40)}`);
  }
}

function parsePeerInfo(v: unknown): PeerInfo | null {
  if (typeof v !== "object" || v === null) return null;
  const p = v as Record<string, unknown>;
  if (!isMatch(p.peer, PEER_ADDRESS_PATTERN) || !isMatch(p.publicKey, PUBLIC_KEY_PATTERN)) return null;
  return { peer: p.peer, publicKey: p.publicKey };
}

/** The server's ICE servers; a list that does not parse is ignored as a whole (links get none). */
function joinedIceServers(v: unknown): IceServer[] {
  if (v === undefined) return [];
  const parsed = parseIceServers(v);
  return parsed.ok ? parsed.servers : [];
}

const KNOWN_ERROR_CODES = new Set<string>(ERROR_CODES);

/** Parses what the server sent; null for anything malformed (a client ignores it). */
export function parseServerMessage(text: string): ServerMessage | null {
  const m = parseJsonObject(text);
  if (!m) return null;
  switch (m.type) {
    case "challenge":
      if (typeof m.protocol !== "string" || !isMatch(m.nonce, NONCE_PATTERN)) return null;
      return { type: "challenge", protocol: m.protocol, nonce: m.nonce };
    case "joined": {
      if (
        !isMatch(m.room, ROOM_PATTERN) ||
        !isMatch(m.self, PEER_ADDRESS_PATTERN) ||
        !Array.isArray(m.peers)
      ) {
        return null;
      }
      const peers = m.peers.map(parsePeerInfo);
      if (peers.some((p) => p === null)) return null;
      return {
        type: "joined",
        room: m.room,
        self: m.self,
        peers: peers as PeerInfo[],
        iceServers: joinedIceServers(m.iceServers),
      };
    }
    case "peer-joined": {
      const peer = parsePeerInfo(m.peer);
      return peer ? { type: "peer-joined", peer } : null;
    }
    case "peer-left":
      return isMatch(m.peer, PEER_ADDRESS_PATTERN) ? { type: "peer-left", peer: m.peer } : null;
    case "signal":
      if (!isMatch(m.from, PEER_ADDRESS_PATTERN) || typeof m.data !== "object" || m.data === null)
        return null;
      return { type: "signal", from: m.from, data: m.data };
    case "pong":
      return { type: "pong" };
    case "ice-servers": {
      const parsed = parseIceServers(m.iceServers);
      return parsed.ok ? { type: "ice-servers", iceServers: parsed.servers } : null;
    }
    case "error":
      if (!KNOWN_ERROR_CODES.has(m.code as string)) return null;
      return {
        type: "error",
        code: m.code as ErrorCode,
        message: typeof m.message === "string" ? m.message : "",
      };
    default:
      return null;
  }
}
