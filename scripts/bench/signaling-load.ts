// Load generator for the signaling benchmark (scripts/bench/signaling.ts), run
// as its own process so that thousands of sockets neither hit the server's
// open-file limit nor count in its memory. Driven over IPC: "hold" opens sockets
// and makes each a member of a room (ours: signed join) or topic (y-webrtc:
// subscribe); "pairs" sets up sender/receiver pairs, "go" starts bouncing a
// fixed number of messages per pair, "count" reports deliveries so far.
// The same script drives both servers: one small adapter per protocol.
import { generateKeyPairSync, type KeyObject, sign } from "node:crypto";
import WebSocket from "ws";
import { joinChallengeBytes } from "../../core/net/signaling-protocol.ts";

export type Protocol = "ours" | "y-webrtc";

export type LoadCommand =
  | {
      cmd: "hold";
      protocol: Protocol;
      url: string;
      count: number;
      first: number;
      roomSize: number;
    }
  /** Sender/receiver pairs; with `urlB`, each pair's receiver is on that server (another instance). */
  | { cmd: "pairs"; protocol: Protocol; url: string; urlB?: string; pairs: number; room: string }
  /** `count` joins on `urlB`, each timed until a member already joined on `url` hears of it (ours only). */
  | { cmd: "joins"; url: string; urlB: string; room: string; count: number }
  | { cmd: "go"; window: number }
  | { cmd: "count" }
  | { cmd: "exit" };

export type LoadReply =
  | { held: number; failed: number; ms: number; firstError: string }
  | { ready: number }
  | { delivered: number; at: number }
  | { joinMs: number[] }
  | { ok: true };

interface Member {
  ws: WebSocket;
  /** What a message must name to reach this member: its peer address (ours) or its topic (y-webrtc). */
  target: string;
}

/** An ICE candidate, about the size of most signaling traffic. */
const PAYLOAD = {
  candidate:
    "candidate:842163049 1 udp 1677729535 192.0.2.3 54321 typ srflx raddr 10.0.0.1 rport 54321 generation 0 ufrag EsAw network-cost 999",
  sdpMid: "0",
  sdpMLineIndex: 0,
};
const PAYLOAD_JSON = JSON.stringify(PAYLOAD);

interface Adapter {
  /** Opens a socket and makes it a member of `group` (a room, or a topic). */
  enter(url: string, group: string, n: number): Promise<Member>;
  /** The frame that delivers PAYLOAD to `target`. */
  messageTo(target: string): string;
  /** Whether a received frame is a delivered message (not a presence event or pong). */
  isDelivery(frame: Buffer): boolean;
}

const TIMEOUT_MS = 30_000;

/**
 * A client socket. No local address is chosen: binding one before connecting
 * makes the kernel search for a free port on every connect (this made opening
 * 10,000 sockets take a minute), while connect() picks ports per destination.
 */
function create(url: string): WebSocket {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: TIMEOUT_MS });
  // A failed connection also closes, which is what callers wait on.
  ws.on("error", () => undefined);
  return ws;
}

/** Resolves with the first text frame for which `pick` returns a value; rejects on close or timeout. */
function await_(ws: WebSocket, pick: (m: Record<string, unknown>) => unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => done(new Error("timed out")), TIMEOUT_MS);
    const onMessage = (data: Buffer) => {
      const m = JSON.parse(data.toString()) as Record<string, unknown>;
      if (m.type === "error") return done(new Error(`${String(m.code)}: ${String(m.message)}`));
      const v = pick(m);
      if (v !== undefined) done(null, v);
    };
    const onClose = (code: number) => done(new Error(`closed ${code}`));
    const done = (err: Error | null, v?: unknown) => {
      clearTimeout(timer);
      ws.off("message", onMessage);
      ws.off("close", onClose);
      if (err) reject(err);
      else resolve(v);
    };
    ws.on("message", onMessage);
    ws.on("close", onClose);
  });
}

/**
 * One identity per socket, as real peers have (the server caps sessions per key
 * in a room), signed with Node's crypto directly (WebCrypto's per-call overhead
 * would make the generator, not the server, the bottleneck).
 */
const identities = new Map<number, { publicKey: string; privateKey: KeyObject }>();
function identityFor(n: number): { publicKey: string; privateKey: KeyObject } {
  let identity = identities.get(n);
  if (!identity) {
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    identity = { publicKey: String(publicKey.export({ format: "jwk" }).x), privateKey };
    identities.set(n, identity);
  }
  return identity;
}

function signJoin(privateKey: KeyObject, data: Uint8Array): string {
  return sign(null, data, privateKey).toString("base64url");
}

const ours: Adapter = {
  async enter(url, room, n) {
    const identity = identityFor(n);
    const ws = create(url);
    const nonce = String(await await_(ws, (m) => (m.type === "challenge" ? m.nonce : undefined)));
    const session = `s${n}`;
    const signature = signJoin(
      identity.privateKey,
      joinChallengeBytes(nonce, room, session, identity.publicKey),
    );
    const joined = await_(ws, (m) => (m.type === "joined" ? m.self : undefined));
    ws.send(JSON.stringify({ type: "join", room, session, publicKey: identity.publicKey, signature }));
    return { ws, target: String(await joined) };
  },
  messageTo: (target) => `{"type":"signal","to":${JSON.stringify(target)},"data":${PAYLOAD_JSON}}`,
  // `{"type":"signal"…`: the 10th byte is the s of signal.
  isDelivery: (frame) => frame[9] === 0x73,
};

const yWebrtc: Adapter = {
  async enter(url, topic, n) {
    const ws = create(url);
    // As y-webrtc's own client does: subscribe, then announce itself to the room
    // (the server sends that to every subscriber: the same fan-out as our peer-joined).
    // y-webrtc does not acknowledge a subscription; a pong after it shows it was handled.
    const pong = await_(ws, (m) => (m.type === "pong" ? true : undefined));
    ws.once("open", () => {
      ws.send(JSON.stringify({ type: "subscribe", topics: [topic] }));
      ws.send(JSON.stringify({ type: "publish", topic, data: { type: "announce", from: `peer-${n}` } }));
      ws.send(JSON.stringify({ type: "ping" }));
    });
    await pong;
    return { ws, target: topic };
  },
  messageTo: (target) => `{"type":"publish","topic":${JSON.stringify(target)},"data":${PAYLOAD_JSON}}`,
  // `{"type":"publish"…` vs `{"type":"pong"}`: the 11th byte is the u of publish.
  isDelivery: (frame) => frame[10] === 0x75,
};

const adapters: Record<Protocol, Adapter> = { ours, "y-webrtc": yWebrtc };

const held: WebSocket[] = [];
const pairs: { a: Member; b: Member; toB: string }[] = [];
let delivered = 0;

/** Runs `task(i)` for i in [0, count) with at most `limit` at once. */
async function pool(count: number, limit: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

async function hold(c: Extract<LoadCommand, { cmd: "hold" }>): Promise<LoadReply> {
  const adapter = adapters[c.protocol];
  const started = Date.now();
  let failed = 0;
  let firstError = "";
  await pool(c.count, 200, async (i) => {
    const n = c.first + i;
    try {
      const m = await adapter.enter(c.url, `hold-${Math.floor(n / c.roomSize)}`, n);
      // Presence traffic (peer-joined) is read and dropped.
      m.ws.removeAllListeners("message");
      held.push(m.ws);
    } catch (err) {
      failed += 1;
      firstError ||= String(err);
    }
  });
  const open = held.filter((ws) => ws.readyState === WebSocket.OPEN).length;
  return { held: open, failed, ms: Date.now() - started, firstError };
}

async function makePairs(c: Extract<LoadCommand, { cmd: "pairs" }>): Promise<LoadReply> {
  const adapter = adapters[c.protocol];
  await pool(c.pairs, 50, async (i) => {
    // Ours: every pair in one room, addressed by peer address. y-webrtc publishes to
    // every subscriber of a topic, so its one-to-one equivalent is a topic per receiver.
    const group = (side: string) => (c.protocol === "ours" ? c.room : `${c.room}-${i}-${side}`);
    const a = await adapter.enter(c.url, group("a"), 1_000_000 + 2 * i);
    const b = await adapter.enter(c.urlB ?? c.url, group("b"), 1_000_001 + 2 * i);
    pairs.push({ a, b, toB: adapter.messageTo(b.target) });
  });
  for (const { a, b, toB } of pairs) {
    const toA = adapter.messageTo(a.target);
    a.ws.removeAllListeners("message");
    b.ws.removeAllListeners("message");
    // Every delivery is answered by one message back: a fixed number stays in flight per pair.
    a.ws.on("message", (data: Buffer) => {
      if (!adapter.isDelivery(data)) return;
      delivered += 1;
      a.ws.send(toB);
    });
    b.ws.on("message", (data: Buffer) => {
      if (!adapter.isDelivery(data)) return;
      delivered += 1;
      b.ws.send(toA);
    });
  }
  return { ready: pairs.length };
}

/**
 * From sending a join on one instance until a member on the other hears
 * peer-joined: what a cross-instance join costs (the joiner's own "joined"
 * answer comes first, from its instance).
 */
async function joins(c: Extract<LoadCommand, { cmd: "joins" }>): Promise<LoadReply> {
  const watcher = await ours.enter(c.url, c.room, 2_000_000);
  const joinMs: number[] = [];
  try {
    for (let i = 0; i < c.count; i++) {
      const identity = identityFor(2_000_001 + i);
      const ws = create(c.urlB);
      const nonce = String(await await_(ws, (m) => (m.type === "challenge" ? m.nonce : undefined)));
      const session = `j${i}`;
      const signature = signJoin(
        identity.privateKey,
        joinChallengeBytes(nonce, c.room, session, identity.publicKey),
      );
      const heard = await_(watcher.ws, (m) =>
        m.type === "peer-joined" && (m.peer as { publicKey?: string }).publicKey === identity.publicKey
          ? true
          : undefined,
      );
      const sentAt = performance.now();
      ws.send(
        JSON.stringify({ type: "join", room: c.room, session, publicKey: identity.publicKey, signature }),
      );
      await heard;
      joinMs.push(performance.now() - sentAt);
      ws.terminate();
    }
  } finally {
    watcher.ws.terminate();
  }
  return { joinMs };
}

function go(window: number): LoadReply {
  for (const { a, toB } of pairs) for (let k = 0; k < window; k++) a.ws.send(toB);
  return { ok: true };
}

async function handle(c: LoadCommand): Promise<LoadReply> {
  switch (c.cmd) {
    case "hold":
      return hold(c);
    case "pairs":
      return makePairs(c);
    case "joins":
      return joins(c);
    case "go":
      return go(c.window);
    case "count":
      return { delivered, at: performance.now() + performance.timeOrigin };
    case "exit":
      for (const ws of held) ws.terminate();
      for (const { a, b } of pairs) {
        a.ws.terminate();
        b.ws.terminate();
      }
      setTimeout(() => process.exit(0), 50);
      return { ok: true };
  }
}

process.on("message", (raw) => {
  const { id, command } = raw as { id: number; command: LoadCommand };
  handle(command).then(
    (reply) => process.send?.({ id, reply }),
    (err: unknown) => process.send?.({ id, error: String(err) }),
  );
});
process.on("disconnect", () => process.exit(0));
