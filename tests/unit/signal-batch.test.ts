// Signals for other instances leave as one PUBLISH per instance and turn of
// the event loop, a full batch at once; and a batch parses back, the malformed
// entries left out.
import { describe, expect, it } from "vitest";
import { encodeSignal, parseSignals } from "../../signaling-server/cluster/bus-messages.ts";
import { MAX_BATCH, SignalBatcher } from "../../signaling-server/cluster/signal-batch.ts";

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
const A = `${"a".repeat(32)}.s`;
const B = `${"b".repeat(32)}.s`;

describe("SignalBatcher", () => {
  it("sends what one turn queued for each instance as one message", async () => {
    const sent: [string, string][] = [];
    const batcher = new SignalBatcher((instance, text) => sent.push([instance, text]));
    batcher.add("i1", encodeSignal({ room: "r", from: A, to: B, data: 1 }));
    batcher.add("i2", encodeSignal({ room: "r", from: A, to: B, data: 2 }));
    batcher.add("i1", encodeSignal({ room: "r", from: B, to: A, data: { x: [3] } }));
    expect(sent).toEqual([]);
    await turn();
    expect(sent.map(([i]) => i)).toEqual(["i1", "i2"]);
    expect(parseSignals(sent[0]![1])).toEqual([
      { room: "r", from: A, to: B, data: 1 },
      { room: "r", from: B, to: A, data: { x: [3] } },
    ]);
    await turn();
    expect(sent).toHaveLength(2);
  });

  it("sends a full batch at once, and drops what is queued when cleared", async () => {
    const sent: string[] = [];
    const batcher = new SignalBatcher((_i, text) => sent.push(text));
    for (let n = 0; n < MAX_BATCH; n++)
      batcher.add("i1", encodeSignal({ room: "r", from: A, to: B, data: n }));
    expect(sent).toHaveLength(1);
    expect(parseSignals(sent[0]!)).toHaveLength(MAX_BATCH);
    batcher.add("i1", encodeSignal({ room: "r", from: A, to: B, data: "late" }));
    batcher.clear();
    await turn();
    expect(sent).toHaveLength(1);
  });

  it("parses only well-formed signals out of a batch", () => {
    const good = { room: "r", from: A, to: B, data: null };
    const text = JSON.stringify([
      good,
      { room: "bad room", from: A, to: B, data: 1 },
      { room: "r", from: A, to: B },
      7,
    ]);
    expect(parseSignals(text)).toEqual([good]);
    expect(parseSignals("{}")).toEqual([]);
    expect(parseSignals("not json")).toEqual([]);
  });
});
