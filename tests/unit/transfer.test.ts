// Transfers between two peers over an in-memory pair of meshes, on a manual
// clock: what arrives is what was sent, and a hostile sender's offers and
// chunks cost only themselves.
import { describe, expect, it } from "vitest";
import { type TransferOffer, Transfers } from "../../core/net/transfer.ts";
import {
  encodeTransfer,
  parseTransfer,
  TRANSFER_PROTOCOL,
  type TransferMessage,
} from "../../core/net/transfer-protocol.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { flushAsync } from "../helpers/eventually.ts";
import { meshPair, type PairEnd } from "../helpers/mesh-pair.ts";

function pair(accept: (offer: TransferOffer) => boolean = () => true, maxBytes = 1024 * 1024) {
  const clock = new ManualClock();
  const [a, b] = meshPair();
  const sender = new Transfers(a, { clock, accept: () => false, chunkBytes: 1000 });
  const receiver = new Transfers(b, { clock, accept: (_r, o) => accept(o), maxBytes });
  const flush = () => flushAsync(3);
  return { clock, a, b, sender, receiver, flush };
}

/** Sends one raw transfer message from `from` as a hostile peer would, and collects the answers it gets. */
function raw(from: PairEnd) {
  const channel = from.channel(TRANSFER_PROTOCOL);
  const answers: TransferMessage[] = [];
  channel.on("message", (_r, payload) => {
    const m = parseTransfer(payload);
    if (m) answers.push(m);
  });
  return {
    answers,
    /** Runs the clock until `count` answers have come back (hashing is real async work). */
    answered: (clock: ManualClock, count: number, flush: () => Promise<void>) =>
      clock.runUntil(() => answers.length >= count, { flush, what: `${count} answers` }),
    send: (m: Parameters<typeof encodeTransfer>[0]) => channel.send(from.other.self, encodeTransfer(m)),
    sendBytes: (payload: Uint8Array) => channel.send(from.other.self, payload),
  };
}

const ID = "1".repeat(32);
const SHA = "0".repeat(64);

describe("transfers", () => {
  it("delivers every byte once, verified, with progress on both sides", async () => {
    const { clock, sender, receiver, flush } = pair();
    const bytes = Uint8Array.from({ length: 5500 }, (_, i) => i % 251);
    const got: Uint8Array[] = [];
    const progress: string[] = [];
    receiver.on("received", (_r, offer, b) => {
      expect(offer.meta).toEqual({ what: "test" });
      got.push(b);
    });
    sender.on("progress", (p) => progress.push(`${p.direction}:${p.done}`));
    receiver.on("progress", (p) => progress.push(`${p.direction}:${p.done}`));
    let done = false;
    void sender.send("b", { what: "test" }, bytes).then(() => (done = true));
    await clock.runUntil(() => done, { flush, what: "the transfer" });
    expect(got).toHaveLength(1);
    expect([...got[0]!]).toEqual([...bytes]);
    expect(progress.filter((p) => p.startsWith("out")).at(-1)).toBe("out:5500");
    expect(progress.filter((p) => p.startsWith("in")).at(-1)).toBe("in:5500");
  });

  it("tells the sender why an offer was refused", async () => {
    const { clock, sender, flush } = pair(() => false);
    let error = "";
    void sender.send("b", {}, new Uint8Array(10)).catch((e: Error) => (error = e.message));
    await clock.runUntil(() => error !== "", { flush, what: "the refusal" });
    expect(error).toBe("refused: not wanted");
  });

  it("refuses an offer over the size cap before taking a byte", async () => {
    const { clock, a, receiver, flush } = pair(() => true, 1000);
    const hostile = raw(a);
    let received = 0;
    receiver.on("received", () => received++);
    hostile.send({ t: "offer", id: ID, meta: {}, bytes: 10 ** 9, sha256: SHA });
    await hostile.answered(clock, 1, flush);
    expect(hostile.answers).toEqual([{ t: "refuse", id: ID, reason: "too large" }]);
    hostile.send({ t: "chunk", id: ID, offset: 0, data: new Uint8Array(100) });
    await clock.advance(10, flush);
    expect(received).toBe(0);
  });

  it("refuses malformed offers with a reason and ignores garbage", async () => {
    const { clock, a, flush } = pair();
    const hostile = raw(a);
    const offer = (body: object) => {
      const json = new TextEncoder().encode(JSON.stringify(body));
      hostile.sendBytes(Uint8Array.from([0, ...json]));
    };
    offer({ id: ID, meta: {}, bytes: -5, sha256: SHA });
    offer({ id: ID, meta: {}, bytes: 5, sha256: "not a hash" });
    offer({ id: "../x", meta: {}, bytes: 5, sha256: SHA });
    hostile.sendBytes(Uint8Array.of(0, 0xff, 0xfe));
    hostile.sendBytes(new Uint8Array(0));
    await hostile.answered(clock, 2, flush);
    await clock.advance(10, flush); // nothing more comes
    expect(hostile.answers).toEqual([
      { t: "refuse", id: ID, reason: "bad size" },
      { t: "refuse", id: ID, reason: "bad offer" },
    ]);
  });

  it("cancels a transfer whose chunks come out of order, and rejects bytes that do not match the hash", async () => {
    const { clock, a, receiver, flush } = pair();
    const hostile = raw(a);
    let received = 0;
    receiver.on("received", () => received++);
    hostile.send({ t: "offer", id: ID, meta: {}, bytes: 10, sha256: SHA });
    await hostile.answered(clock, 1, flush);
    expect(hostile.answers.at(-1)).toEqual({ t: "accept", id: ID });
    hostile.send({ t: "chunk", id: ID, offset: 5, data: new Uint8Array(5) });
    await hostile.answered(clock, 2, flush);
    expect(hostile.answers.at(-1)).toEqual({
      t: "cancel",
      id: ID,
      reason: "chunk out of order or out of range",
    });

    const other = "2".repeat(32);
    hostile.send({ t: "offer", id: other, meta: {}, bytes: 4, sha256: SHA });
    await hostile.answered(clock, 3, flush);
    hostile.send({ t: "chunk", id: other, offset: 0, data: Uint8Array.of(1, 2, 3, 4) });
    await hostile.answered(clock, 4, flush);
    expect(hostile.answers.at(-1)).toEqual({ t: "done", id: other, ok: false, reason: "SHA-256 mismatch" });
    expect(received).toBe(0);
  });

  it("frees a transfer whose sender goes quiet, and tells it so", async () => {
    const { clock, a, flush } = pair();
    const hostile = raw(a);
    hostile.send({ t: "offer", id: ID, meta: {}, bytes: 100, sha256: SHA });
    await hostile.answered(clock, 1, flush);
    await clock.advance(30_000, flush);
    expect(hostile.answers.at(-1)).toEqual({ t: "cancel", id: ID, reason: "timed out" });
    // The slot is free again: the same id may be offered anew.
    hostile.send({ t: "offer", id: ID, meta: {}, bytes: 1, sha256: SHA });
    await hostile.answered(clock, 3, flush);
    expect(hostile.answers.at(-1)).toEqual({ t: "accept", id: ID });
  });

  it("fails a send whose link closes before the receiver confirmed", async () => {
    const { clock, a, b, sender, flush } = pair();
    let error = "";
    b.open = false; // the receiver's answers never come back
    let offers = 0;
    b.channel(TRANSFER_PROTOCOL).on("message", () => offers++);
    void sender.send("b", {}, new Uint8Array(50_000)).catch((e: Error) => (error = e.message));
    await clock.runUntil(() => offers > 0, { flush, what: "the offer" });
    expect(error).toBe("");
    a.open = false;
    a.events.emit("close", "b");
    await clock.runUntil(() => error !== "", { flush, what: "the failure" });
    expect(error).toMatch(/link closed/);
  });
});
