// A raw signaling client for the server tests (`ws`): answers the challenge with an identity's
// signature and hands out the server's messages in order, so tests can also
// send what an honest client never would. (Peers use core/signaling-client.ts.)
import { type Socket, connect as tcpConnect } from "node:net";
import WebSocket from "ws";
import { type Identity, sign } from "../../core/crypto/identity.ts";
import {
  type ClientMessage,
  encodeMessage,
  joinChallengeBytes,
  parseServerMessage,
  type ServerMessage,
} from "../../core/net/signaling-protocol.ts";

export type ServerMessageOf<T extends ServerMessage["type"]> = Extract<ServerMessage, { type: T }>;

export type JoinMessage = Extract<ClientMessage, { type: "join" }>;

export interface Closed {
  code: number;
  reason: string;
}

/** Messages kept for `next()` before the oldest are dropped. */
const QUEUE_LIMIT = 10_000;

export class SignalingClient {
  /** Messages received and not yet taken by `next()`, oldest first. */
  readonly queue: ServerMessage[] = [];
  /** Resolves when the socket closes. */
  readonly closed: Promise<Closed>;
  private waiters: (() => void)[] = [];
  private closedWith: Closed | null = null;

  private constructor(
    readonly ws: WebSocket,
    /** The server's challenge nonce. */
    readonly nonce: string,
    readonly protocol: string,
  ) {
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closedWith = { code, reason: reason.toString() };
        resolve(this.closedWith);
        this.wake();
      });
    });
    ws.on("message", (data, isBinary) => {
      if (isBinary) return;
      const message = parseServerMessage(data.toString());
      if (!message) return;
      if (this.queue.length >= QUEUE_LIMIT) this.queue.shift();
      this.queue.push(message);
      this.wake();
    });
  }

  /** Connects to a signaling URL (ws://host/signal) and waits for the challenge. */
  static connect(
    url: string,
    options: WebSocket.ClientOptions = {},
    timeoutMs = 10_000,
  ): Promise<SignalingClient> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false, ...options });
      const timer = setTimeout(() => fail(new Error("no challenge in time")), timeoutMs);
      const fail = (err: Error) => {
        clearTimeout(timer);
        ws.terminate();
        reject(err);
      };
      ws.once("error", fail);
      ws.once("close", (code) => fail(new Error(`closed (${code}) before the challenge`)));
      ws.once("unexpected-response", (_req, res) =>
        fail(new Error(`HTTP ${res.statusCode} ${String(res.headers["x-signaling-error"] ?? "")}`)),
      );
      ws.once("message", (data) => {
        clearTimeout(timer);
        ws.removeAllListeners();
        // Errors after the handshake show as a close.
        ws.on("error", () => undefined);
        const m = parseServerMessage(data.toString());
        if (m?.type !== "challenge") {
          ws.terminate();
          reject(new Error(`expected a challenge, got ${data.toString().slice(0, 80)}`));
          return;
        }
        resolve(new SignalingClient(ws, m.nonce, m.protocol));
      });
    });
  }

  /** The join message proving `identity` for this socket's challenge. */
  async joinMessage(identity: Identity, room: string, session: string): Promise<JoinMessage> {
    const signature = await sign(identity, joinChallengeBytes(this.nonce, room, session, identity.publicKey));
    return { type: "join", room, session, publicKey: identity.publicKey, signature };
  }

  /** Joins `room`; resolves with "joined", rejects with the server's error. */
  async join(identity: Identity, room: string, session: string): Promise<ServerMessageOf<"joined">> {
    this.send(await this.joinMessage(identity, room, session));
    const reply = await this.next((m) => m.type === "joined" || m.type === "error");
    if (reply.type === "error") throw new Error(`join refused: ${reply.code} ${reply.message}`);
    return reply as ServerMessageOf<"joined">;
  }

  send(message: ClientMessage): void {
    this.ws.send(encodeMessage(message));
  }

  /** Sends anything at all (tests of hostile input). */
  sendRaw(data: string | Buffer, binary = typeof data !== "string"): void {
    this.ws.send(data, { binary });
  }

  /** Takes the first queued message of `type` (or matching a predicate), waiting for it. */
  next<T extends ServerMessage["type"]>(type: T, timeoutMs?: number): Promise<ServerMessageOf<T>>;
  next(match: (m: ServerMessage) => boolean, timeoutMs?: number): Promise<ServerMessage>;
  next(match: string | ((m: ServerMessage) => boolean), timeoutMs = 5_000): Promise<ServerMessage> {
    const test = typeof match === "string" ? (m: ServerMessage) => m.type === match : match;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(
          new Error(
            `no ${String(typeof match === "string" ? match : "matching message")} in ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        const i = this.queue.findIndex(test);
        if (i >= 0) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          resolve(this.queue.splice(i, 1)[0]!);
        } else if (this.closedWith) {
          clearTimeout(timer);
          this.waiters = this.waiters.filter((w) => w !== check);
          reject(new Error(`closed (${this.closedWith.code} ${this.closedWith.reason}) while waiting`));
        }
      };
      this.waiters.push(check);
      check();
    });
  }

  /**
   * A ping answered: the server handles a socket's messages in order and writes
   * to it in order, so whatever it sent this socket before handling the ping
   * (a relay, a broadcast) has arrived once the pong has. Needs a joined socket.
   */
  async roundTrip(): Promise<void> {
    this.send({ type: "ping" });
    await this.next("pong");
  }

  close(code = 1000): void {
    this.ws.close(code);
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }
}

/** A plain TCP socket to the server that sends only what the test tells it to (idle sockets, slowloris). */
export interface RawTcp {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves (never rejects) when the socket has closed, with when (Date.now()) and everything the server sent. */
  closed: Promise<{ at: number; text: string; error: string | null }>;
}

/** Opens a TCP connection to 127.0.0.1:`port` from `localAddress`; resolves once connected (or closed first). */
export function rawTcp(port: number, localAddress = "127.0.0.1"): Promise<RawTcp> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ port, host: "127.0.0.1", localAddress });
    let text = "";
    let error: string | null = null;
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => {
      if (text.length < 64 * 1024) text += d;
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      error = err.code ?? err.message;
    });
    const closed = new Promise<{ at: number; text: string; error: string | null }>((done) =>
      socket.once("close", () => done({ at: Date.now(), text, error })),
    );
    const raw: RawTcp = { socket, received: () => text, closed };
    socket.once("connect", () => resolve(raw));
    void closed.then(() => resolve(raw));
  });
}

/** Resolves with `promise`, or rejects naming `what` after `ms` (a bound, not a sleep: it ends as soon as `promise` does). */
export async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`not within ${ms} ms: ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, bound]);
  } finally {
    clearTimeout(timer);
  }
}
