import { describe, expect, it } from "vitest";
import { createIdentity, verifySignature } from "../../core/crypto/identity.ts";
import { peerAddress } from "../../core/net/peer-address.ts";
import {
  SignalingClient,
  type SignalingStatus,
  type SocketHandlers,
} from "../../core/net/signaling-client.ts";
import { joinChallengeBytes } from "../../core/net/signaling-protocol.ts";
import { ManualClock } from "../../core/util/clock.ts";
import { eventually } from "../helpers/eventually.ts";

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A scripted server side: each connection attempt is one FakeSocket. */
class FakeSocket {
  sent: Record<string, unknown>[] = [];
  closed = false;
  constructor(readonly handlers: SocketHandlers) {}
  send(text: string) {
    this.sent.push(JSON.parse(text));
  }
  close() {
    this.closed = true;
  }
  serverSends(message: unknown) {
    this.handlers.message(JSON.stringify(message));
  }
}

async function setup(url: string | readonly string[] = "ws://test/signal") {
  const identity = await createIdentity();
  const clock = new ManualClock();
  const sockets: FakeSocket[] = [];
  const statuses: SignalingStatus[] = [];
  const urls: string[] = [];
  const client = new SignalingClient({
    url,
    room: "r1",
    identity,
    session: "tab1",
    clock,
    random: () => 0.5,
    socketFactory: (socketUrl, handlers) => {
      urls.push(socketUrl);
      const s = new FakeSocket(handlers);
      sockets.push(s);
      return s;
    },
  });
  client.on("status", (s) => statuses.push(s));
  return { identity, clock, sockets, statuses, urls, client };
}

const other = { peer: `${"a".repeat(32)}.x`, publicKey: "A".repeat(43) };

async function join(socket: FakeSocket, self: string) {
  socket.serverSends({ type: "challenge", protocol: "spare-cycles-signal/1", nonce: "n".repeat(43) });
  await eventually("the join is signed and sent", () => socket.sent.length > 0);
  socket.serverSends({ type: "joined", room: "r1", self, peers: [other], iceServers: [] });
}

describe("SignalingClient", () => {
  it("answers the challenge with a signature over nonce, room, session and key", async () => {
    const { identity, sockets, client } = await setup();
    client.start();
    sockets[0]!.serverSends({ type: "challenge", protocol: "spare-cycles-signal/1", nonce: "n".repeat(43) });
    await eventually("the join is signed and sent", () => sockets[0]!.sent.length > 0);
    const join = sockets[0]!.sent[0] as Record<string, string>;
    expect(join).toMatchObject({ type: "join", room: "r1", session: "tab1", publicKey: identity.publicKey });
    const signed = joinChallengeBytes("n".repeat(43), "r1", "tab1", identity.publicKey);
    expect(await verifySignature(identity.publicKey, signed, join.signature!)).toBe(true);
    expect(client.self).toBe(peerAddress(identity.peerId, "tab1"));
  });

  it("keeps the member list and relays signals only to members once joined", async () => {
    const { sockets, client } = await setup();
    client.start();
    expect(client.sendSignal(other.peer, { x: 1 })).toBe(false);
    await join(sockets[0]!, client.self);
    expect(client.members()).toEqual([other]);
    expect(client.sendSignal(other.peer, { x: 1 })).toBe(true);
    expect(client.sendSignal(`${"b".repeat(32)}.y`, { x: 1 })).toBe(false);
    const left: string[] = [];
    client.on("peer-left", (p) => left.push(p));
    sockets[0]!.serverSends({ type: "peer-left", peer: other.peer });
    expect(left).toEqual([other.peer]);
    expect(client.members()).toEqual([]);
  });

  it("ignores malformed messages from the server", async () => {
    const { sockets, client } = await setup();
    client.start();
    const s = sockets[0]!;
    for (const junk of [
      "nope",
      "{}",
      '{"type":"joined"}',
      '{"type":"signal","from":"x","data":1}',
      "[1,2]",
    ]) {
      s.handlers.message(junk);
    }
    await flush();
    expect(client.status().state).toBe("connecting");
    expect(s.sent).toEqual([]);
  });

  it("reconnects with growing backoff, and resets it after a successful join", async () => {
    const { clock, sockets, statuses, client } = await setup();
    client.start();
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      sockets.at(-1)!.handlers.close(1006, "");
      const waiting = statuses.at(-1)!;
      expect(waiting.state).toBe("waiting");
      delays.push(waiting.retryAtMs! - clock.nowMs());
      await clock.advance(waiting.retryAtMs! - clock.nowMs(), flush);
    }
    expect(delays).toEqual([500, 1000, 2000, 4000]);
    expect(sockets).toHaveLength(5);
    await join(sockets.at(-1)!, client.self);
    expect(client.status()).toMatchObject({ state: "joined", failures: 0 });
    // The first retry after a joined socket closed is quick; the backoff resumes after it.
    sockets.at(-1)!.handlers.close(1001, "going away");
    expect(statuses.at(-1)!.retryAtMs! - clock.nowMs()).toBe(250);
    await clock.advance(250, flush);
    sockets.at(-1)!.handlers.close(1006, "");
    expect(statuses.at(-1)!.retryAtMs! - clock.nowMs()).toBe(500);
  });

  it("drops a connection whose server stops answering pings, and reconnects", async () => {
    const { clock, sockets, client } = await setup();
    client.start();
    await join(sockets[0]!, client.self);
    await clock.advance(15_000, flush);
    expect(sockets[0]!.sent.at(-1)).toEqual({ type: "ping" });
    sockets[0]!.serverSends({ type: "pong" });
    await clock.advance(15_000, flush);
    expect(client.status().state).toBe("joined");
    await clock.advance(10_001, flush); // the second ping goes unanswered
    expect(sockets[0]!.closed).toBe(true);
    expect(client.status().state).toBe("waiting");
    await clock.advance(1000, flush);
    expect(sockets).toHaveLength(2);
  });

  it("stop() leaves no timers and no socket", async () => {
    const { clock, sockets, client } = await setup();
    client.start();
    await join(sockets[0]!, client.self);
    client.stop();
    expect(sockets[0]!.closed).toBe(true);
    expect(clock.pending).toBe(0);
    expect(client.status().state).toBe("stopped");
  });

  describe("with several server URLs", () => {
    const A = "ws://a.test/signal";
    const B = "ws://b.test/signal";
    const C = "ws://c.test/signal";

    it("tries them in turn, round robin, with the usual backoff between failures", async () => {
      const { clock, sockets, statuses, urls, client } = await setup([A, B, C]);
      client.start();
      expect(client.status()).toMatchObject({ state: "connecting", url: A });
      const delays: number[] = [];
      for (let i = 0; i < 4; i++) {
        sockets.at(-1)!.handlers.close(1006, "");
        const waiting = statuses.at(-1)!;
        delays.push(waiting.retryAtMs! - clock.nowMs());
        expect(waiting.url).toBe([B, C, A, B][i]);
        await clock.advance(waiting.retryAtMs! - clock.nowMs(), flush);
      }
      expect(urls).toEqual([A, B, C, A, B]);
      expect(delays).toEqual([500, 1000, 2000, 4000]);
      await join(sockets.at(-1)!, client.self);
      expect(client.status()).toMatchObject({ state: "joined", url: B, failures: 0 });
    });

    it("moves to the next one soon after the joined one is lost", async () => {
      const { clock, sockets, urls, client } = await setup([A, B]);
      client.start();
      await join(sockets[0]!, client.self);
      sockets[0]!.handlers.close(1006, "");
      expect(client.status()).toMatchObject({ state: "waiting", url: B, retryAtMs: clock.nowMs() + 250 });
      await clock.advance(250, flush);
      expect(urls).toEqual([A, B]);
      await join(sockets[1]!, client.self);
      expect(client.members()).toEqual([other]);
    });

    it("leaves a server that says it is shutting down for the next one at once", async () => {
      const { clock, sockets, urls, client } = await setup([A, B]);
      client.start();
      await join(sockets[0]!, client.self);
      sockets[0]!.serverSends({
        type: "error",
        code: "shutting-down",
        message: "the server is shutting down",
      });
      expect(sockets[0]!.closed).toBe(true);
      expect(client.status()).toMatchObject({ state: "waiting", url: B });
      // Its close arriving later changes nothing.
      sockets[0]!.handlers.close(1001, "shutting-down");
      await clock.advance(250, flush);
      expect(urls).toEqual([A, B]);
      expect(client.status()).toMatchObject({ state: "connecting", url: B });
    });

    it("refuses an empty list", async () => {
      await expect(setup([])).rejects.toThrow(/at least one/);
    });
  });
});
