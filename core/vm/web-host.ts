// The host's side of web hosting: a request from any peer for a VM it runs, to
// a port its owner published, becomes a TCP connection into the guest (the
// engine's `connect`); the guest's answer streams back as frames. Bounded:
// per-VM concurrency, a rate per asker, a deadline for the first byte and for
// the whole answer, and a size cap; each failure is an HTTP status the asker
// shows, never a hang.
import type { BandwidthCap } from "../net/bandwidth-cap.ts";
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { Clock } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import { TokenBucket } from "../util/token-bucket.ts";
import { encodeRequest, HttpError, ResponseParser } from "../web/http1.ts";
import type { WebBook } from "../web/web-book.ts";
import {
  BODY_CHUNK_BYTES,
  encodeWebMessage,
  parseWebMessage,
  WEB_PROTOCOL,
  type WebMessage,
} from "../web/web-protocol.ts";
import type { GuestConnection } from "./engine.ts";
import type { Hosting } from "./hosting.ts";

export interface WebHostLimits {
  /** Requests one VM serves at once. */
  perVmConcurrent: number;
  /** Requests one asker may make a second (and in a burst). */
  perAskerPerS: number;
  perAskerBurst: number;
  firstByteMs: number;
  totalMs: number;
  maxResponseBytes: number;
  /** Send-buffer bytes above which the answer waits for the link. */
  highWaterBytes: number;
}

export const DEFAULT_WEB_HOST_LIMITS: WebHostLimits = {
  perVmConcurrent: 8,
  // A server's gateway asks for everyone it serves: a page with its assets is tens of requests.
  perAskerPerS: 100,
  perAskerBurst: 200,
  firstByteMs: 10_000,
  totalMs: 30_000,
  maxResponseBytes: 16 * 1024 * 1024,
  highWaterBytes: 1024 * 1024,
};

/** What My VMs and the Contribute page count per VM. */
export interface WebCounters {
  requests: number;
  bytesIn: number;
  bytesOut: number;
}

export interface WebHostOptions {
  mesh: MeshPort;
  clock: Clock;
  web: WebBook;
  /** The VM this host runs, if it does and it is running. */
  running(vmId: string): Hosting | null;
  limits?: Partial<WebHostLimits>;
  /** The contributor's bandwidth for its VMs: answers wait for it (slowed, never cut), and it counts what passes. */
  bandwidth?: BandwidthCap;
}

type Request = Extract<WebMessage, { t: "request" }>;

interface Serving {
  remote: PeerAddress;
  /** The asker's request id. */
  id: string;
  vmId: string;
  conn: GuestConnection | null;
  done: boolean;
  cancels: (() => void)[];
}

const MAX_ASKERS = 1024;

export class WebHost {
  private readonly channel: PeerChannel;
  private readonly limits: WebHostLimits;
  private readonly serving = new Map<string, Serving>();
  private readonly askers = new Map<string, TokenBucket>();
  private readonly counters = new Map<string, WebCounters>();
  private readonly off: (() => void)[];

  constructor(private readonly o: WebHostOptions) {
    this.limits = { ...DEFAULT_WEB_HOST_LIMITS, ...o.limits };
    this.channel = o.mesh.channel(WEB_PROTOCOL);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        o.bandwidth?.noteIn(payload.length);
        const m = parseWebMessage(payload);
        if (m?.t === "request") void this.serve(remote, m);
        else if (m?.t === "cancel") this.finish(`${remote}/${m.id}`);
      }),
      o.mesh.on("close", (remote) => {
        for (const [key, s] of this.serving) if (s.remote === remote) this.finish(key);
      }),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const key of [...this.serving.keys()]) this.finish(key);
  }

  countersOf(vmId: string): WebCounters {
    return { ...(this.counters.get(vmId) ?? { requests: 0, bytesIn: 0, bytesOut: 0 }) };
  }

  private send(remote: PeerAddress, m: WebMessage): void {
    this.channel.send(remote, encodeWebMessage(m));
  }

  private fail(remote: PeerAddress, id: string, status: number, message: string, retryAfterS?: number): void {
    this.send(remote, { t: "error", id, status, message, ...(retryAfterS !== undefined && { retryAfterS }) });
  }

  private bucket(remote: PeerAddress): TokenBucket {
    let b = this.askers.get(remote);
    if (!b) {
      if (this.askers.size >= MAX_ASKERS) this.askers.delete(this.askers.keys().next().value!);
      b = new TokenBucket(this.limits.perAskerPerS, this.limits.perAskerBurst, () => this.o.clock.nowMs());
      this.askers.set(remote, b);
    }
    return b;
  }

  private async serve(remote: PeerAddress, m: Request): Promise<void> {
    const key = `${remote}/${m.id}`;
    if (this.serving.has(key)) return;
    if (!this.bucket(remote).take(1)) return this.fail(remote, m.id, 429, "too many requests; slow down", 1);
    const h = this.o.running(m.vmId);
    if (!h) return this.fail(remote, m.id, 503, "the VM is not running here (it may be moving)", 2);
    if (!(await this.o.web.isPublished(m.vmId, m.port)))
      return this.fail(remote, m.id, 404, `port ${m.port} of this VM is not published`);
    if (!h.engine?.connect) return this.fail(remote, m.id, 502, "this host cannot reach the guest's network");
    const active = [...this.serving.values()].filter((s) => s.vmId === m.vmId).length;
    if (active >= this.limits.perVmConcurrent)
      return this.fail(remote, m.id, 503, "the VM is busy with other requests", 1);
    let request: Uint8Array;
    try {
      request = encodeRequest(m, m.body, m.vmId);
    } catch (err) {
      return this.fail(remote, m.id, err instanceof HttpError ? err.status : 400, errorMessage(err));
    }
    const s: Serving = { remote, id: m.id, vmId: m.vmId, conn: null, done: false, cancels: [] };
    this.serving.set(key, s);
    const count = this.counters.get(m.vmId) ?? { requests: 0, bytesIn: 0, bytesOut: 0 };
    this.counters.set(m.vmId, count);
    count.requests++;
    count.bytesIn += request.length;
    const timeout = (ms: number, status: number, message: string) =>
      this.o.clock.after(ms, () => {
        if (!s.done) this.abort(key, status, message);
      });
    s.cancels.push(
      timeout(this.limits.firstByteMs, 504, "the guest did not answer in time"),
      timeout(this.limits.totalMs, 504, "the guest's answer took too long"),
    );
    try {
      s.conn = await h.engine.connect(m.port, request);
    } catch (err) {
      return this.abort(key, 502, `the guest's port ${m.port} does not answer (${errorMessage(err)})`);
    }
    if (s.done) return s.conn.close();
    // The guest's answer, in order: each frame waits for the link if its buffer is full.
    let queue = Promise.resolve();
    const relay = (frame: WebMessage) => {
      queue = queue.then(async () => {
        while (!s.done && this.o.mesh.bufferedBytes(remote) > this.limits.highWaterBytes)
          await new Promise<void>((r) => this.o.clock.after(5, r));
        if (frame.t === "body" && !s.done && this.o.bandwidth)
          await this.o.bandwidth.wait(frame.bytes.length);
        if (s.done && frame.t !== "end") return;
        this.send(remote, frame);
      });
    };
    const parser = new ResponseParser(
      {
        head: (head) => {
          s.cancels.shift()?.(); // the first byte came
          relay({ t: "head", id: m.id, ...head });
        },
        body: (bytes) => {
          count.bytesOut += bytes.length;
          for (let i = 0; i < bytes.length; i += BODY_CHUNK_BYTES)
            relay({ t: "body", id: m.id, bytes: bytes.slice(i, i + BODY_CHUNK_BYTES) });
        },
        end: () => {
          relay({ t: "end", id: m.id });
          void queue.then(() => this.finish(key));
        },
      },
      { maxHeadBytes: 16 * 1024, maxBodyBytes: this.limits.maxResponseBytes },
      m.method,
    );
    const guard = (step: () => void) => {
      if (s.done || parser.finished) return;
      try {
        step();
      } catch (err) {
        this.abort(key, err instanceof HttpError ? err.status : 502, errorMessage(err));
      }
    };
    s.conn.onData((bytes) => guard(() => parser.feed(bytes)));
    s.conn.onClose(() => guard(() => parser.close()));
  }

  private abort(key: string, status: number, message: string): void {
    const s = this.serving.get(key);
    if (!s || s.done) return;
    this.fail(s.remote, s.id, status, message);
    this.finish(key);
  }

  private finish(key: string): void {
    const s = this.serving.get(key);
    if (!s) return;
    s.done = true;
    this.serving.delete(key);
    for (const cancel of s.cancels.splice(0)) cancel();
    s.conn?.close();
  }
}
