// The service worker takes only well-formed answer frames from a page: a head
// the Response constructor accepts, body chunks as ArrayBuffers, an end that
// says complete (null) or why it was cut. Anything else is null.
import { describe, expect, it } from "vitest";
import { parseGatewayFrame } from "../../core/web/gateway-messages.ts";

describe("gateway answer frames", () => {
  it("parses a head, a chunk and both kinds of end", () => {
    expect(parseGatewayFrame({ type: "head", status: 200, statusText: "OK", headers: [["a", "b"]] })).toEqual(
      {
        type: "head",
        status: 200,
        statusText: "OK",
        headers: [["a", "b"]],
      },
    );
    const bytes = new ArrayBuffer(3);
    expect(parseGatewayFrame({ type: "body", bytes })).toEqual({ type: "body", bytes });
    expect(parseGatewayFrame({ type: "end", error: null })).toEqual({ type: "end", error: null });
    expect(parseGatewayFrame({ type: "end", error: "cut" })).toEqual({ type: "end", error: "cut" });
  });

  it("refuses anything else", () => {
    for (const v of [
      null,
      "head",
      { type: "head", status: 101, statusText: "", headers: [] },
      { type: "head", status: 200.5, statusText: "", headers: [] },
      { type: "head", status: 200, statusText: "", headers: [["a"]] },
      { type: "head", status: 200, statusText: "", headers: Array.from({ length: 201 }, () => ["a", "b"]) },
      { type: "body", bytes: new Uint8Array(3) },
      { type: "body", bytes: "abc" },
      { type: "end" },
      { type: "end", error: 5 },
      { type: "cancel" },
    ])
      expect(parseGatewayFrame(v)).toBeNull();
  });
});
