import { describe, expect, it } from "vitest";
import { ChannelRouter, encodeFrame, type Protocol } from "../../core/net/channels.ts";

const A: Protocol = { name: "a", id: 10, version: 1 };
const B: Protocol = { name: "b", id: 11, version: 3 };

function router() {
  const sent: { remote: string; frame: Uint8Array }[] = [];
  const r = new ChannelRouter(
    (remote, frame) => {
      sent.push({ remote, frame });
      return true;
    },
    (frame) => {
      sent.push({ remote: "*", frame });
      return 1;
    },
  );
  return { r, sent };
}

describe("channel router", () => {
  it("frames each payload with its channel and version, and hands consumers only their own payloads", () => {
    const { r, sent } = router();
    const a = r.channel(A);
    const b = r.channel(B);
    const got: string[] = [];
    a.on("message", (remote, payload) => got.push(`a:${remote}:${[...payload]}`));
    b.on("message", (remote, payload) => got.push(`b:${remote}:${[...payload]}`));
    a.send("p", Uint8Array.of(7, 8));
    expect([...sent[0]!.frame]).toEqual([10, 1, 7, 8]);
    r.deliver("q", sent[0]!.frame);
    r.deliver("q", encodeFrame(B, Uint8Array.of(9)));
    expect(got).toEqual(["a:q:7,8", "b:q:9"]);
    expect(r.dropped).toBe(0);
  });

  it("drops and counts frames of another version, of no channel, or too short to have a header", () => {
    const { r } = router();
    const got: Uint8Array[] = [];
    r.channel(A).on("message", (_remote, payload) => got.push(payload));
    r.deliver("q", encodeFrame({ ...A, version: 2 }, Uint8Array.of(1)));
    r.deliver("q", Uint8Array.of(99, 1, 1));
    r.deliver("q", Uint8Array.of(10));
    r.deliver("q", new Uint8Array(0));
    expect(got).toEqual([]);
    expect(r.dropped).toBe(4);
  });

  it("lets several consumers share a protocol, but refuses a second protocol on a taken channel", () => {
    const { r } = router();
    const seen: number[] = [];
    const off = r.channel(A).on("message", () => seen.push(1));
    r.channel(A).on("message", () => seen.push(2));
    r.deliver("q", encodeFrame(A, new Uint8Array(0)));
    off();
    r.deliver("q", encodeFrame(A, new Uint8Array(0)));
    expect(seen).toEqual([1, 2, 2]);
    expect(() => r.channel({ name: "other", id: A.id, version: 1 })).toThrow(/taken/);
    expect(() => r.channel({ ...A, version: 2 })).toThrow(/taken/);
  });
});
