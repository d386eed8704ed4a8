// What every Link does, whatever carries the bytes: WebRTC data channels
// (simple-peer; node-datachannel in Node) and the in-memory twin the mesh tests
// use both run this suite, so the twin cannot drift from the real transport.
import { afterEach, describe, expect, it } from "vitest";
import type { SideChannel } from "../../core/net/side-channel.ts";
import type { Link, LinkEvents, LinkFactory } from "../../core/net/transport.ts";

export interface LinkFixture {
  /** The factory one peer (`self`) makes its links with. */
  factory(self: string): LinkFactory;
  /** Frees what the fixture holds (after each test). */
  dispose?(): void | Promise<void>;
}

type LinkEvent =
  | { type: "open" }
  | { type: "message"; data: Uint8Array }
  | { type: "close"; reason: string }
  | { type: "signal"; data: object }
  | { type: "channel"; channel: SideChannel };

/** One end of a pair: its link and everything it reported, in order. */
export interface End {
  link: Link;
  events: LinkEvent[];
  messages(): Uint8Array[];
  count(type: LinkEvent["type"]): number;
  /** The side channels the remote opened, as this end received them. */
  channels(): SideChannel[];
}

const ADDRESS_A = `${"a".repeat(32)}.one`;
const ADDRESS_B = `${"b".repeat(32)}.two`;

async function until(what: string, check: () => boolean, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`${what}: not in ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

function recorder(onSignal: (data: object) => void): { events: LinkEvent[]; handlers: LinkEvents } {
  const events: LinkEvent[] = [];
  return {
    events,
    handlers: {
      open: () => events.push({ type: "open" }),
      message: (data) => events.push({ type: "message", data }),
      close: (reason) => events.push({ type: "close", reason }),
      signal: (data) => {
        events.push({ type: "signal", data });
        onSignal(data);
      },
      channel: (channel) => {
        events.push({ type: "channel", channel });
        // Used here, as a consumer would (else the channel could still move to another thread).
        channel.on("message", () => {});
      },
    },
  };
}

function end(link: Link, events: LinkEvent[]): End {
  return {
    link,
    events,
    messages: () => events.flatMap((e) => (e.type === "message" ? [e.data] : [])),
    count: (type) => events.filter((e) => e.type === type).length,
    channels: () => events.flatMap((e) => (e.type === "channel" ? [e.channel] : [])),
  };
}

/** Bytes whose every position says where it is in which message. */
function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7) & 0xff;
  return bytes;
}

export function describeLink(name: string, makeFixture: () => LinkFixture) {
  describe(`Link: ${name}`, () => {
    let fixture: LinkFixture | null = null;
    const links: Link[] = [];

    afterEach(async () => {
      for (const link of links.splice(0)) link.close();
      await fixture?.dispose?.();
      fixture = null;
    });

    /**
     * Two links, A (the initiator) and B, whose set-up data goes through a relay like signaling's
     * (which may rewrite it on the way).
     */
    function pair(rewrite: (data: object) => object = (d) => d): { a: End; b: End } {
      fixture = makeFixture();
      let la: Link | null = null;
      let lb: Link | null = null;
      // Signaling delivers later, as JSON.
      const relay = (to: () => Link | null) => (data: object) => {
        const copy = rewrite(JSON.parse(JSON.stringify(data)));
        setTimeout(() => to()?.signal(copy), 1);
      };
      const ra = recorder(relay(() => lb));
      const rb = recorder(relay(() => la));
      la = fixture.factory(ADDRESS_A).create({
        remote: ADDRESS_B,
        initiator: true,
        iceServers: [],
        events: ra.handlers,
      });
      lb = fixture.factory(ADDRESS_B).create({
        remote: ADDRESS_A,
        initiator: false,
        iceServers: [],
        events: rb.handlers,
      });
      links.push(la, lb);
      return { a: end(la, ra.events), b: end(lb, rb.events) };
    }

    async function openPair() {
      const p = pair();
      await until("both ends open", () => p.a.count("open") === 1 && p.b.count("open") === 1);
      return p;
    }

    it("opens both ends once their set-up data is exchanged; send before that returns false", async () => {
      const { a, b } = pair();
      expect(a.link.remote).toBe(ADDRESS_B);
      expect(b.link.remote).toBe(ADDRESS_A);
      expect(a.link.send(new Uint8Array([1]))).toBe(false);
      expect(b.link.send(new Uint8Array([1]))).toBe(false);
      expect(typeof a.link.bufferedBytes()).toBe("number");
      await until("both ends open", () => a.count("open") === 1 && b.count("open") === 1);
      expect(a.count("signal")).toBeGreaterThan(0);
      for (const e of [...a.events, ...b.events])
        if (e.type === "signal") expect(typeof e.data).toBe("object");
      expect(a.count("close") + b.count("close")).toBe(0);
      await settle(50);
      expect(a.count("open")).toBe(1);
      expect(b.count("open")).toBe(1);
    });

    it("delivers messages both ways, in order, intact, as bytes", async () => {
      const { a, b } = await openPair();
      const sizes = [1, 2, 100, 1000, 3, 16_000, 0, 5, 1200, 7];
      const sent = sizes.map((n, i) => pattern(n, i));
      for (const m of sent) expect(a.link.send(m)).toBe(true);
      for (const m of sent.slice(0, 3)) expect(b.link.send(m)).toBe(true);
      await until("A's messages at B", () => b.messages().length >= sent.length);
      await until("B's messages at A", () => a.messages().length >= 3);
      for (const got of [...b.messages(), ...a.messages()]) expect(got).toBeInstanceOf(Uint8Array);
      expect(b.messages().map((m) => [...m])).toEqual(sent.map((m) => [...m]));
      expect(a.messages().map((m) => [...m])).toEqual(sent.slice(0, 3).map((m) => [...m]));
      expect(typeof a.link.bufferedBytes()).toBe("number");
      expect(a.link.bufferedBytes()).toBeGreaterThanOrEqual(0);
    });

    it("delivers a 64 KiB message whole, and many in a burst in order", async () => {
      const { a, b } = await openPair();
      const big = pattern(64 * 1024, 42);
      expect(a.link.send(big)).toBe(true);
      const burst = Array.from({ length: 200 }, (_, i) => pattern(4096, i));
      for (const m of burst) expect(a.link.send(m)).toBe(true);
      await until("all at B", () => b.messages().length >= 1 + burst.length);
      const got = b.messages();
      expect(got).toHaveLength(1 + burst.length);
      expect(got[0]!.byteLength).toBe(big.byteLength);
      expect(Buffer.from(got[0]!).equals(Buffer.from(big))).toBe(true);
      for (let i = 0; i < burst.length; i++)
        expect(Buffer.from(got[i + 1]!).equals(Buffer.from(burst[i]!))).toBe(true);
    });

    it("sends what the bytes were when sent: the sender may reuse its buffer", async () => {
      const { a, b } = await openPair();
      const buffer = new Uint8Array([1, 2, 3]);
      expect(a.link.send(buffer)).toBe(true);
      buffer.fill(9);
      expect(a.link.send(buffer.subarray(1))).toBe(true);
      await until("both at B", () => b.messages().length >= 2);
      expect(b.messages().map((m) => [...m])).toEqual([
        [1, 2, 3],
        [9, 9],
      ]);
    });

    it("closing one end reports close once on both, and nothing after", async () => {
      const { a, b } = await openPair();
      a.link.close();
      expect(a.count("close")).toBe(1); // the closing end hears at once
      expect(a.link.send(new Uint8Array([1]))).toBe(false);
      await until("B hears the close", () => b.count("close") === 1);
      expect(b.link.send(new Uint8Array([1]))).toBe(false);
      a.link.close();
      b.link.close();
      a.link.signal({ type: "offer", sdp: "v=0" });
      await settle();
      expect(a.count("close")).toBe(1);
      expect(b.count("close")).toBe(1);
      expect(a.events.at(-1)?.type).toBe("close");
      expect(b.events.at(-1)?.type).toBe("close");
      expect(a.link.bufferedBytes()).toBe(0);
      expect(typeof b.link.bufferedBytes()).toBe("number");
    });

    it("closing before the link opened reports close once, and it never opens", async () => {
      const { a, b } = pair();
      a.link.close();
      expect(a.count("close")).toBe(1);
      await settle(300);
      expect(a.count("open")).toBe(0);
      expect(a.count("close")).toBe(1);
      expect(a.events.at(-1)?.type).toBe("close");
      expect(b.count("open")).toBe(0);
      expect(b.link.send(new Uint8Array([1]))).toBe(false);
    });

    it("reports both ends' fingerprints once open: A's own is B's remote, and the other way round", async () => {
      const { a, b } = await openPair();
      const fa = a.link.fingerprints();
      const fb = b.link.fingerprints();
      expect(fa).not.toBeNull();
      expect(fb).not.toBeNull();
      for (const f of [fa!.local, fa!.remote]) expect(f).toMatch(/^sha-256 [0-9A-F]{2}(:[0-9A-F]{2}){31}/);
      expect(fa!.local).toBe(fb!.remote);
      expect(fa!.remote).toBe(fb!.local);
      expect(fa!.local).not.toBe(fa!.remote);
      // Another pair has other certificates.
      const other = await openPair();
      expect(other.a.link.fingerprints()!.local).not.toBe(fa!.local);
      expect(other.b.link.fingerprints()!.local).not.toBe(fb!.local);
    });

    it("never opens when a relay changed the initiator's fingerprint on the way", async () => {
      const flip = (f: string) => f.replace(/ ([0-9A-F])/i, (_, h: string) => ` ${h === "0" ? "1" : "0"}`);
      const { a, b } = pair((data) => {
        const d = data as { sdp?: unknown; fingerprint?: unknown };
        if (typeof d.sdp === "string")
          d.sdp = d.sdp.replace(/^(a=fingerprint:.*)$/gm, (line: string) => flip(line));
        if (typeof d.fingerprint === "string") d.fingerprint = flip(d.fingerprint);
        return d;
      });
      // The certificate does not match what B was told: DTLS (or its twin) never completes.
      await settle(1500);
      expect(a.count("open")).toBe(0);
      expect(b.count("open")).toBe(0);
      expect(a.link.send(new Uint8Array([1]))).toBe(false);
    });

    it("closes, reporting it once, when fed set-up data that is not set-up data", async () => {
      const { a, b } = pair();
      b.link.signal({ nonsense: true });
      await until("B closes", () => b.count("close") === 1);
      await settle();
      expect(b.count("close")).toBe(1);
      expect(b.count("open")).toBe(0);
      expect(a.count("open")).toBe(0);
    });

    it("opens side channels both ends see under the same label, carrying bytes both ways in order", async () => {
      const { a, b } = await openPair();
      const mine = a.link.openChannel?.("shell/1/test");
      if (!mine) throw new Error("this transport has no side channels");
      const opened = new Promise<void>((r) => mine.on("open", r));
      const atA: Uint8Array[] = [];
      mine.on("message", (data) => atA.push(data));
      await until("B got the channel", () => b.channels().length === 1);
      const theirs = b.channels()[0]!;
      expect(theirs.label).toBe("shell/1/test");
      const atB: Uint8Array[] = [];
      theirs.on("message", (data) => atB.push(data));
      await opened;
      await until("B's end open", () => theirs.isOpen());
      const sent = [1, 300, 16_000, 2].map((n, i) => pattern(n, i));
      for (const m of sent) expect(mine.send(m)).toBe(true);
      expect(theirs.send(pattern(5, 9))).toBe(true);
      await until("A's bytes at B", () => atB.length === sent.length);
      await until("B's bytes at A", () => atA.length === 1);
      expect(atB.map((m) => [...m])).toEqual(sent.map((m) => [...m]));
      expect([...atA[0]!]).toEqual([...pattern(5, 9)]);
      // The link's own messages are not mixed with the side channel's.
      expect(b.messages()).toHaveLength(0);
      // Used on this thread, it can no longer move to another.
      expect(mine.take()).toBeNull();
    });

    it("closes a side channel on both ends when one closes it, and all of them with the link", async () => {
      const { a, b } = await openPair();
      const first = a.link.openChannel?.("one");
      const second = a.link.openChannel?.("two");
      if (!first || !second) throw new Error("this transport has no side channels");
      const closes = { first: 0, second: 0 };
      first.on("close", () => closes.first++);
      second.on("close", () => closes.second++);
      await until("B got both", () => b.channels().length === 2);
      const [theirFirst, theirSecond] = b.channels();
      let theirCloses = 0;
      theirFirst!.on("close", () => theirCloses++);
      theirSecond!.on("close", () => theirCloses++);
      await until("both open at B", () => theirFirst!.isOpen() && theirSecond!.isOpen());
      theirFirst!.close();
      await until("A's first closed", () => closes.first === 1);
      expect(first.send(new Uint8Array([1]))).toBe(false);
      expect(second.isOpen()).toBe(true);
      a.link.close();
      await until("the rest closed with the link", () => closes.second === 1 && theirCloses === 2);
      expect(second.send(new Uint8Array([1]))).toBe(false);
    });
  });
}
