// HTTP requests to a VM's published port, carried over the mesh between the
// tab (or server) that asks and the VM's host: one binary frame per message,
// `[type][8-byte request id][payload]`. A request is one frame (its body is
// small: MAX_REQUEST_BODY_BYTES); an answer is a head, body chunks and an end,
// or an error with the HTTP status the asker should give. Parsed at the edge.
import { CHANNEL_IDS, type Protocol } from "../net/channels.ts";
import { isCount, isObject } from "../util/guards.ts";
import { parseJsonBytes } from "../util/json.ts";

export const WEB_PROTOCOL: Protocol = { name: "web", id: CHANNEL_IDS.web, version: 1 };

export const REQUEST_ID_BYTES = 8;
/** The largest request body carried (an upload beyond it is a 413). */
export const MAX_REQUEST_BODY_BYTES = 64 * 1024;
/** How much of an answer's body one frame carries. */
export const BODY_CHUNK_BYTES = 16 * 1024;
const MAX_HEAD_JSON_BYTES = 32 * 1024;
const MAX_HEADERS = 100;

export type WebMessage =
  | {
      t: "request";
      id: string;
      vmId: string;
      port: number;
      method: string;
      target: string;
      headers: [string, string][];
      body: Uint8Array;
    }
  | { t: "head"; id: string; status: number; statusText: string; headers: [string, string][] }
  | { t: "body"; id: string; bytes: Uint8Array }
  | { t: "end"; id: string }
  | { t: "error"; id: string; status: number; message: string; retryAfterS?: number }
  | { t: "cancel"; id: string };

const TYPES = ["request", "head", "body", "end", "error", "cancel"] as const;
const encoder = new TextEncoder();

function frame(type: (typeof TYPES)[number], id: string, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + REQUEST_ID_BYTES + payload.length);
  out[0] = TYPES.indexOf(type) + 1;
  for (let i = 0; i < REQUEST_ID_BYTES; i++) out[1 + i] = Number.parseInt(id.slice(i * 2, i * 2 + 2), 16);
  out.set(payload, 1 + REQUEST_ID_BYTES);
  return out;
}

/** The JSON head and the raw body of a request, length-prefixed. */
function withBody(head: unknown, body: Uint8Array): Uint8Array {
  const json = encoder.encode(JSON.stringify(head));
  const out = new Uint8Array(4 + json.length + body.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(body, 4 + json.length);
  return out;
}

export function encodeWebMessage(m: WebMessage): Uint8Array {
  switch (m.t) {
    case "request": {
      const { vmId, port, method, target, headers } = m;
      return frame("request", m.id, withBody({ vmId, port, method, target, headers }, m.body));
    }
    case "head":
      return frame(
        "head",
        m.id,
        encoder.encode(JSON.stringify({ status: m.status, statusText: m.statusText, headers: m.headers })),
      );
    case "body":
      return frame("body", m.id, m.bytes);
    case "error":
      return frame(
        "error",
        m.id,
        encoder.encode(JSON.stringify({ status: m.status, message: m.message, retryAfterS: m.retryAfterS })),
      );
    default:
      return frame(m.t, m.id, new Uint8Array());
  }
}

const isHeaders = (v: unknown): v is [string, string][] =>
  Array.isArray(v) &&
  v.length <= MAX_HEADERS &&
  v.every(
    (h) =>
      Array.isArray(h) &&
      h.length === 2 &&
      typeof h[0] === "string" &&
      typeof h[1] === "string" &&
      h[0].length + h[1].length <= 8192,
  );
const isStatus = (v: unknown): v is number => isCount(v) && v >= 100 && v <= 599;

/** Parses one web-channel payload; null for anything malformed. */
export function parseWebMessage(payload: Uint8Array): WebMessage | null {
  if (payload.length < 1 + REQUEST_ID_BYTES) return null;
  const type = TYPES[payload[0]! - 1];
  if (!type) return null;
  const id = [...payload.subarray(1, 1 + REQUEST_ID_BYTES)]
    .map((b) => b.toString(16).padStart(2, "0"))
    .join("");
  const rest = payload.subarray(1 + REQUEST_ID_BYTES);
  switch (type) {
    case "request": {
      if (rest.length < 4) return null;
      const jsonBytes = new DataView(rest.buffer, rest.byteOffset).getUint32(0);
      if (jsonBytes > MAX_HEAD_JSON_BYTES || 4 + jsonBytes > rest.length) return null;
      const h = parseJsonBytes(rest.subarray(4, 4 + jsonBytes));
      const body = rest.slice(4 + jsonBytes);
      if (!isObject(h) || typeof h.vmId !== "string" || !/^[0-9a-f]{32}$/.test(h.vmId)) return null;
      if (!isCount(h.port) || h.port < 1 || h.port > 65535) return null;
      if (typeof h.method !== "string" || typeof h.target !== "string" || !isHeaders(h.headers)) return null;
      if (body.length > MAX_REQUEST_BODY_BYTES || h.target.length > 8192 || h.method.length > 16) return null;
      return {
        t: "request",
        id,
        vmId: h.vmId,
        port: h.port,
        method: h.method,
        target: h.target,
        headers: h.headers,
        body,
      };
    }
    case "head": {
      if (rest.length > MAX_HEAD_JSON_BYTES) return null;
      const h = parseJsonBytes(rest);
      if (!isObject(h) || !isStatus(h.status) || typeof h.statusText !== "string" || !isHeaders(h.headers))
        return null;
      return { t: "head", id, status: h.status, statusText: h.statusText.slice(0, 200), headers: h.headers };
    }
    case "body":
      return rest.length <= BODY_CHUNK_BYTES ? { t: "body", id, bytes: rest.slice() } : null;
    case "error": {
      const h = rest.length <= 4096 ? parseJsonBytes(rest) : null;
      if (!isObject(h) || !isStatus(h.status) || typeof h.message !== "string") return null;
      const retry = isCount(h.retryAfterS) && h.retryAfterS <= 3600 ? { retryAfterS: h.retryAfterS } : {};
      return { t: "error", id, status: h.status, message: h.message.slice(0, 500), ...retry };
    }
    default:
      return { t: type, id };
  }
}
