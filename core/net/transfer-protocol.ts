// The transfer protocol's messages (see transfer.ts): pure encode and parse.
// Each payload starts with its kind; control messages carry JSON, chunks carry
// the transfer id, the offset and the bytes. Everything received is parsed into
// the union below; anything else is null.
import { isObject } from "../util/guards.ts";
import { fromHex, toHex } from "../util/hex.ts";
import { parseJsonBytes } from "../util/json.ts";
import { CHANNEL_IDS, type Protocol } from "./channels.ts";

export const TRANSFER_PROTOCOL: Protocol = { name: "transfer", id: CHANNEL_IDS.transfer, version: 1 };

export const TRANSFER_ID_BYTES = 16;
const ID_PATTERN = /^[0-9a-f]{32}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;
const CHUNK_HEADER = 1 + TRANSFER_ID_BYTES + 4;
const REASON_CHARS = 200;

const KIND = { offer: 0, accept: 1, refuse: 2, chunk: 3, done: 4, cancel: 5 } as const;

export type TransferMessage =
  | { t: "offer"; id: string; meta: unknown; bytes: number; sha256: string }
  | { t: "accept"; id: string }
  | { t: "refuse"; id: string; reason: string }
  | { t: "chunk"; id: string; offset: number; data: Uint8Array }
  | { t: "done"; id: string; ok: boolean; reason: string }
  | { t: "cancel"; id: string; reason: string }
  /** An offer whose size or hash is not well formed: refused with this reason. */
  | { t: "bad-offer"; id: string; reason: string };

export function encodeTransfer(m: Exclude<TransferMessage, { t: "bad-offer" }>): Uint8Array {
  if (m.t === "chunk") {
    const out = new Uint8Array(CHUNK_HEADER + m.data.length);
    out[0] = KIND.chunk;
    out.set(fromHex(m.id, TRANSFER_ID_BYTES), 1);
    new DataView(out.buffer).setUint32(1 + TRANSFER_ID_BYTES, m.offset);
    out.set(m.data, CHUNK_HEADER);
    return out;
  }
  const { t, ...body } = m;
  const json = new TextEncoder().encode(JSON.stringify(body));
  const out = new Uint8Array(json.length + 1);
  out[0] = KIND[t];
  out.set(json, 1);
  return out;
}

const reasonOf = (v: unknown) => (typeof v === "string" ? v.slice(0, REASON_CHARS) : "");

/** Parses one transfer payload; null for anything malformed. */
export function parseTransfer(payload: Uint8Array): TransferMessage | null {
  const kind = payload[0];
  if (kind === KIND.chunk) {
    if (payload.length < CHUNK_HEADER) return null;
    const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    return {
      t: "chunk",
      id: toHex(payload.subarray(1, 1 + TRANSFER_ID_BYTES)),
      offset: view.getUint32(1 + TRANSFER_ID_BYTES),
      data: payload.subarray(CHUNK_HEADER),
    };
  }
  const body = parseJsonBytes(payload.subarray(1));
  if (!isObject(body) || typeof body.id !== "string" || !ID_PATTERN.test(body.id)) return null;
  const id = body.id;
  switch (kind) {
    case KIND.offer: {
      const { bytes, sha256 } = body;
      if (typeof bytes !== "number" || !Number.isSafeInteger(bytes) || bytes < 0)
        return { t: "bad-offer", id, reason: "bad size" };
      if (typeof sha256 !== "string" || !SHA256_PATTERN.test(sha256))
        return { t: "bad-offer", id, reason: "bad offer" };
      return { t: "offer", id, meta: body.meta, bytes, sha256 };
    }
    case KIND.accept:
      return { t: "accept", id };
    case KIND.refuse:
      return { t: "refuse", id, reason: reasonOf(body.reason) };
    case KIND.done:
      return { t: "done", id, ok: body.ok === true, reason: reasonOf(body.reason) };
    case KIND.cancel:
      return { t: "cancel", id, reason: reasonOf(body.reason) };
    default:
      return null;
  }
}
