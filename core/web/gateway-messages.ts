// What the service worker and a page of the app say to each other about a
// request under /vm/ (worker/sw.ts, web/web-gateway.ts): the request, and the
// answer streamed on the MessagePort that came with it. Checked at both edges.
import { isObject } from "../util/guards.ts";

export interface GatewayRequest {
  type: "vm-request";
  ref: string;
  port: number | null;
  method: string;
  target: string;
  headers: [string, string][];
  body: ArrayBuffer;
}

/**
 * The answer, streamed on the port: one head, body chunks as the host sends
 * them, then one end (`error` says why a body was cut). The service worker says
 * "cancel" on the same port when the reader gives the body up.
 */
export type GatewayFrame =
  | { type: "head"; status: number; statusText: string; headers: [string, string][] }
  | { type: "body"; bytes: ArrayBuffer }
  | { type: "end"; error: string | null };

export const GATEWAY_CANCEL = "cancel";

const isHeaderList = (v: unknown): v is [string, string][] =>
  Array.isArray(v) &&
  v.length <= 200 &&
  v.every((h) => Array.isArray(h) && h.length === 2 && typeof h[0] === "string" && typeof h[1] === "string");

export function isGatewayRequest(v: unknown): v is GatewayRequest {
  return (
    isObject(v) &&
    v.type === "vm-request" &&
    typeof v.ref === "string" &&
    (v.port === null || (typeof v.port === "number" && Number.isInteger(v.port))) &&
    typeof v.method === "string" &&
    typeof v.target === "string" &&
    isHeaderList(v.headers) &&
    v.body instanceof ArrayBuffer
  );
}

/** One frame of an answer from the page; null for anything else. */
export function parseGatewayFrame(v: unknown): GatewayFrame | null {
  if (!isObject(v)) return null;
  switch (v.type) {
    case "head":
      return typeof v.status === "number" &&
        Number.isInteger(v.status) &&
        v.status >= 200 &&
        v.status <= 599 &&
        typeof v.statusText === "string" &&
        isHeaderList(v.headers)
        ? { type: "head", status: v.status, statusText: v.statusText, headers: v.headers }
        : null;
    case "body":
      return v.bytes instanceof ArrayBuffer ? { type: "body", bytes: v.bytes } : null;
    case "end":
      return v.error === null || typeof v.error === "string" ? { type: "end", error: v.error } : null;
    default:
      return null;
  }
}
