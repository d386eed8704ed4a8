// What every signaling socket does, whatever carries the frames: the
// browser's WebSocket / `ws` (transports/websocket.ts) against the real
// signaling server, and the in-memory twin (MemorySocketServer). The suite talks
// the signaling protocol (challenge, join, ping, a signal to itself), so both
// fixtures must answer it: the real server, or a small in-memory stand-in.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createIdentity, type Identity, sign } from "../../core/crypto/identity.ts";
import type { SocketFactory, SocketLike } from "../../core/net/signaling-client.ts";
import {
  type ClientMessage,
  encodeMessage,
  joinChallengeBytes,
  parseServerMessage,
  type ServerMessage,
} from "../../core/net/signaling-protocol.ts";
import { eventually } from "../helpers/eventually.ts";

export interface SocketFixture {
  /** Where a signaling server answers. */
  url: string;
  /** Where nothing accepts a WebSocket. */
  deadUrl: string;
  sockets: SocketFactory;
  /** Sockets the server holds open now. */
  serverSockets(): number;
  close(): Promise<void>;
}

type SocketEvent =
  | { type: "open" }
  | { type: "message"; text: string }
  | { type: "close"; code: number; reason: string };

interface Client {
  socket: SocketLike;
  events: SocketEvent[];
  count(type: SocketEvent["type"]): number;
  /** Server messages, parsed, in order. */
  messages(): ServerMessage[];
  send(message: ClientMessage): void;
}

const until = (what: string, check: () => boolean) => eventually(what, check, { timeoutMs: 10_000 });

/**
 * A short window in which nothing more may happen (a second close, a late
 * message): absence has no event to wait for, so the suite watches for a while.
 */
const quietWindow = (ms = 100) => new Promise((r) => setTimeout(r, ms));

export function describeSignalingSocket(name: string, start: () => Promise<SocketFixture>) {
  describe(`signaling socket: ${name}`, () => {
    let fixture: SocketFixture;
    let identity: Identity;
    let other: Identity;
    const clients: Client[] = [];

    beforeAll(async () => {
      fixture = await start();
      [identity, other] = await Promise.all([createIdentity(), createIdentity()]);
    });
    afterEach(async () => {
      for (const c of clients.splice(0)) c.socket.close(1000, "done");
      await until("the server lets go of every socket", () => fixture.serverSockets() === 0);
    });
    afterAll(async () => {
      await fixture?.close();
    });

    function connect(url = fixture.url): Client {
      const events: SocketEvent[] = [];
      const socket = fixture.sockets(url, {
        open: () => events.push({ type: "open" }),
        message: (text) => events.push({ type: "message", text }),
        close: (code, reason) => events.push({ type: "close", code, reason }),
      });
      const messages = () =>
        events.flatMap((e) => (e.type === "message" ? [parseServerMessage(e.text)!] : []));
      const client: Client = {
        socket,
        events,
        count: (type) => events.filter((e) => e.type === type).length,
        messages,
        send: (m) => socket.send(encodeMessage(m)),
      };
      clients.push(client);
      return client;
    }

    async function challenged(): Promise<{ client: Client; nonce: string }> {
      const client = connect();
      await until("a challenge", () => client.count("message") > 0);
      const first = client.messages()[0]!;
      if (first.type !== "challenge") throw new Error(`expected a challenge, got ${first.type}`);
      return { client, nonce: first.nonce };
    }

    async function joined(): Promise<{ client: Client; self: string }> {
      const { client, nonce } = await challenged();
      const signature = await sign(
        identity,
        joinChallengeBytes(nonce, "acceptance", "s1", identity.publicKey),
      );
      client.send({
        type: "join",
        room: "acceptance",
        session: "s1",
        publicKey: identity.publicKey,
        signature,
      });
      await until("joined", () => client.messages().some((m) => m.type === "joined"));
      const reply = client.messages().find((m) => m.type === "joined")!;
      return { client, self: (reply as Extract<ServerMessage, { type: "joined" }>).self };
    }

    it("opens, and only then hands over the server's first text frame", async () => {
      const { client } = await challenged();
      expect(client.events[0]).toEqual({ type: "open" });
      expect(client.events[1]?.type).toBe("message");
      expect(client.count("open")).toBe(1);
      expect(fixture.serverSockets()).toBe(1);
    });

    it("throws on send while still connecting, and opens all the same", async () => {
      const client = connect();
      expect(() => client.socket.send(encodeMessage({ type: "ping" }))).toThrow();
      await until("open", () => client.count("open") === 1);
      await until("a challenge", () => client.count("message") === 1);
    });

    it("carries text frames both ways, in order and intact", async () => {
      const { client, self } = await joined();
      const before = client.messages().length;
      const texts = ["plain", 'ü ✓ 😀 \u0000 "quoted" \\', "x".repeat(4000)];
      for (const text of texts) client.send({ type: "signal", to: self, data: { text } });
      client.send({ type: "ping" });
      await until("the answers", () => client.messages().length >= before + texts.length + 1);
      const answers = client.messages().slice(before);
      expect(answers.map((m) => m.type)).toEqual(["signal", "signal", "signal", "pong"]);
      expect(answers.slice(0, 3).map((m) => (m as { data: { text: string } }).data.text)).toEqual(texts);
    });

    it("reports a close from the server once, with its code and reason, after the frames before it", async () => {
      const { client, nonce } = await challenged();
      // A join signed by another key than the one it names: the server says why and closes.
      const signature = await sign(other, joinChallengeBytes(nonce, "acceptance", "s1", identity.publicKey));
      client.send({
        type: "join",
        room: "acceptance",
        session: "s1",
        publicKey: identity.publicKey,
        signature,
      });
      await until("closed", () => client.count("close") === 1);
      const error = client.messages().at(-1);
      expect(error).toMatchObject({ type: "error", code: "bad-signature" });
      expect(client.events.at(-1)).toEqual({ type: "close", code: 1008, reason: "bad-signature" });
      expect(() => client.send({ type: "ping" })).not.toThrow();
      expect(() => client.socket.close(1000, "again")).not.toThrow();
      await quietWindow();
      expect(client.count("close")).toBe(1);
      expect(client.events.at(-1)?.type).toBe("close");
    });

    it("reports a close from the client once, to the client too, with the code it sent", async () => {
      const { client } = await joined();
      client.socket.close(4001, "reconnecting on request");
      expect(() => client.send({ type: "ping" })).not.toThrow();
      await until("closed", () => client.count("close") === 1);
      expect(client.events.at(-1)).toEqual({ type: "close", code: 4001, reason: "reconnecting on request" });
      await until("the server noticed", () => fixture.serverSockets() === 0);
      client.socket.close(1000, "again");
      expect(() => client.send({ type: "ping" })).not.toThrow();
      await quietWindow();
      expect(client.count("close")).toBe(1);
      expect(client.events.at(-1)?.type).toBe("close");
    });

    it("reports a close while connecting once, as 1006, and never opens", async () => {
      const client = connect();
      client.socket.close(1000, "leaving");
      await until("closed", () => client.count("close") === 1);
      await quietWindow();
      expect(client.events).toEqual([{ type: "close", code: 1006, reason: "" }]);
    });

    it("reports a server that will not take the socket as one close (1006), never open", async () => {
      const client = connect(fixture.deadUrl);
      await until("closed", () => client.count("close") === 1);
      await quietWindow();
      expect(client.events).toEqual([{ type: "close", code: 1006, reason: "" }]);
      expect(() => client.send({ type: "ping" })).not.toThrow();
    });
  });
}
