// Files into and out of a remote VM, on the mesh's files channel: an owner's
// granted tab asks the VM's host one call of GuestFilePort at a time, and the
// host answers it. A payload is a 4-byte length, a JSON header, then the bytes
// of a piece (in an uploadChunk request, or a downloadChunk answer). Parsed at
// the edge into typed unions; anything else is null.

import { CHANNEL_IDS, type Protocol } from "../net/channels.ts";
import { VM_ID_PATTERN } from "../state/vm-records.ts";
import { isCount, isObject, SHA256_PATTERN } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";
import { MAX_FILE_BYTES, MAX_FILE_CHUNK_BYTES, MAX_FILE_NAME_CHARS } from "./file-transfer.ts";

export const FILES_PROTOCOL: Protocol = { name: "files", id: CHANNEL_IDS.files, version: 1 };

/** The most a header may take (names are short; lists are capped). */
const MAX_HEADER_BYTES = 64 * 1024;
/** The most files one list answer names. */
export const MAX_LISTED_FILES = 200;
/** Pieces on the mesh: well under a data channel's message size. */
export const REMOTE_FILE_CHUNK_BYTES = 60 * 1024;

type Call =
  | { op: "list" }
  | { op: "uploadBegin"; name: string; bytes: number }
  | { op: "uploadChunk"; transfer: number; offset: number; chunk: Uint8Array }
  | { op: "uploadEnd"; transfer: number; sha256: string }
  | { op: "uploadCancel"; transfer: number }
  | { op: "downloadBegin"; name: string }
  | { op: "downloadChunk"; transfer: number; offset: number; maxBytes: number }
  | { op: "downloadEnd"; transfer: number }
  | { op: "snapshotBegin" };

export type FileRequest = { t: "req"; rq: number; vmId: string } & Call;

export type FileAnswer =
  | { t: "res"; rq: number; ok: true; value: unknown; chunk: Uint8Array | null }
  | { t: "res"; rq: number; ok: false; error: string };

export type FileMessage = FileRequest | FileAnswer;

const OPS = new Set<Call["op"]>([
  "list",
  "uploadBegin",
  "uploadChunk",
  "uploadEnd",
  "uploadCancel",
  "downloadBegin",
  "downloadChunk",
  "downloadEnd",
  "snapshotBegin",
]);

export function encodeFileMessage(message: FileMessage): Uint8Array {
  const { chunk, ...header } = message as FileMessage & { chunk?: Uint8Array | null };
  const json = new TextEncoder().encode(JSON.stringify(header));
  const body = chunk ?? new Uint8Array(0);
  const out = new Uint8Array(4 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(body, 4 + json.length);
  return out;
}

const isName = (v: unknown): v is string => typeof v === "string" && v.length <= MAX_FILE_NAME_CHARS * 4;
const isId = (v: unknown): v is number => isCount(v) && v <= 2 ** 31;

/** Parses a files-channel payload; null for anything malformed. */
export function parseFileMessage(payload: Uint8Array): FileMessage | null {
  if (payload.length < 4 || payload.length > 4 + MAX_HEADER_BYTES + MAX_FILE_CHUNK_BYTES) return null;
  const headerBytes = new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getUint32(0);
  if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > payload.length) return null;
  const m = parseJsonBytes(payload.subarray(4, 4 + headerBytes), { fatal: true });
  const body = payload.slice(4 + headerBytes);
  if (!isObject(m) || !isId(m.rq)) return null;
  if (m.t === "res") {
    if (m.ok === true)
      return { t: "res", rq: m.rq, ok: true, value: m.value, chunk: body.length ? body : null };
    if (m.ok === false && typeof m.error === "string")
      return { t: "res", rq: m.rq, ok: false, error: m.error.slice(0, 300) };
    return null;
  }
  if (m.t !== "req" || typeof m.vmId !== "string" || !VM_ID_PATTERN.test(m.vmId)) return null;
  if (typeof m.op !== "string" || !OPS.has(m.op as Call["op"])) return null;
  const base = { t: "req" as const, rq: m.rq, vmId: m.vmId };
  const op = m.op as Call["op"];
  switch (op) {
    case "list":
    case "snapshotBegin":
      return body.length === 0 ? { ...base, op } : null;
    case "uploadBegin":
    case "downloadBegin":
      if (!isName(m.name) || body.length !== 0) return null;
      if (op === "downloadBegin") return { ...base, op, name: m.name };
      return isCount(m.bytes) && m.bytes <= MAX_FILE_BYTES
        ? { ...base, op, name: m.name, bytes: m.bytes }
        : null;
    case "uploadChunk":
      return isId(m.transfer) && isCount(m.offset) && body.length > 0
        ? { ...base, op, transfer: m.transfer, offset: m.offset, chunk: body }
        : null;
    case "uploadEnd":
      return isId(m.transfer) && typeof m.sha256 === "string" && SHA256_PATTERN.test(m.sha256)
        ? { ...base, op, transfer: m.transfer, sha256: m.sha256 }
        : null;
    case "downloadChunk":
      return isId(m.transfer) && isCount(m.offset) && isCount(m.maxBytes)
        ? {
            ...base,
            op,
            transfer: m.transfer,
            offset: m.offset,
            maxBytes: Math.min(m.maxBytes, MAX_FILE_CHUNK_BYTES),
          }
        : null;
    case "uploadCancel":
    case "downloadEnd":
      return isId(m.transfer) ? { ...base, op, transfer: m.transfer } : null;
  }
}
