// What the service worker and a page of the app say to each other about a
// request under /vm/ (worker/sw.ts, web/web-gateway.ts): the request, and the
// answer on the MessagePort that came with it. Checked at both edges.
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

export interface GatewayAnswer {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: ArrayBuffer;
}

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

export function isGatewayAnswer(v: unknown): v is GatewayAnswer {
  return (
    isObject(v) &&
    typeof v.status === "number" &&
    Number.isInteger(v.status) &&
    v.status >= 200 &&
    v.status <= 599 &&
    typeof v.statusText === "string" &&
    isHeaderList(v.headers) &&
    v.body instanceof ArrayBuffer
  );
}
