// The web channel's frames: what is sent is what is read, and anything malformed
// or beyond the limits is dropped at the edge.
import { describe, expect, it } from "vitest";
import {
  BODY_CHUNK_BYTES,
  encodeWebMessage,
  MAX_REQUEST_BODY_BYTES,
  parseWebMessage,
  type WebMessage,
} from "../../core/web/web-protocol.ts";

const id = "0123456789abcdef";
const vmId = "a".repeat(32);

describe("web protocol", () => {
  it("reads back every message it writes", () => {
    const messages: WebMessage[] = [
      {
        t: "request",
        id,
        vmId,
        port: 80,
        method: "POST",
        target: "/x?y=1",
        headers: [["A", "b"]],
        body: new Uint8Array([1, 2, 3]),
      },
      { t: "head", id, status: 200, statusText: "OK", headers: [["Content-Type", "text/html"]] },
      { t: "body", id, bytes: new Uint8Array([9, 8]) },
      { t: "end", id },
      { t: "error", id, status: 503, message: "moving", retryAfterS: 2 },
      { t: "cancel", id },
    ];
    for (const m of messages) expect(parseWebMessage(encodeWebMessage(m))).toEqual(m);
  });

  it("drops malformed and oversized frames", () => {
    const request = (patch: object, body = new Uint8Array()) =>
      encodeWebMessage({
        t: "request",
        id,
        vmId,
        port: 80,
        method: "GET",
        target: "/",
        headers: [],
        body,
        ...patch,
      } as WebMessage);
    const bad = [
      new Uint8Array([1, 2, 3]),
      new Uint8Array(20).fill(99),
      request({ port: 0 }),
      request({ port: 70000 }),
      request({ vmId: "../etc" }),
      request({ headers: [["a"]] }),
      request({}, new Uint8Array(MAX_REQUEST_BODY_BYTES + 1)),
      encodeWebMessage({ t: "body", id, bytes: new Uint8Array(BODY_CHUNK_BYTES + 1) }),
      encodeWebMessage({ t: "head", id, status: 42, statusText: "", headers: [] }),
      encodeWebMessage({ t: "error", id, status: 999, message: "x" }),
    ];
    for (const frame of bad) expect(parseWebMessage(frame)).toBeNull();
    const truncated = request({});
    expect(parseWebMessage(truncated.subarray(0, 12))).toBeNull();
  });
});
