// Asking a VM's published port for a page, from any peer: the signed lease says
// which host runs the VM now; the request goes to it over the mesh and its answer
// comes back as frames (web-host.ts). While the VM moves (its host is gone, or the
// new one has not started it yet) the request waits and tries again, looking the
// host up afresh each time and at once when a new lease arrives, for a bounded
// time; after that, or for a VM that is stopped, it is a 503 with Retry-After, as
// a gateway should say. A request the host may have passed to the guest is tried
// again only if it is a GET or HEAD. An answer is either whole (`fetch`) or
// streamed (`stream`: the head and each chunk as they come; no retry after the
// head, and a cut answer ends with an error).
import type { MeshPort, PeerChannel } from "../net/channels.ts";
import { whenOpen } from "../net/link-wait.ts";
import type { PeerAddress } from "../net/peer-address.ts";
import type { VmBook } from "../state/vm-book.ts";
import type { Clock } from "../util/clock.ts";
import { randomHex } from "../util/hex.ts";
import {
  encodeWebMessage,
  MAX_REQUEST_BODY_BYTES,
  parseWebMessage,
  REQUEST_ID_BYTES,
  WEB_PROTOCOL,
  type WebMessage,
} from "../web/web-protocol.ts";

export interface WebRequest {
  method: string;
  target: string;
  headers: [string, string][];
  body: Uint8Array;
}

export interface WebResponse {
  status: number;
  statusText: string;
  headers: [string, string][];
  body: Uint8Array;
}

export interface WebHead {
  status: number;
  statusText: string;
  headers: [string, string][];
}

/** Where a streamed answer goes: one head, its chunks in order, then one end. */
export interface WebBodySink {
  head(head: WebHead): void;
  chunk(bytes: Uint8Array): void;
  /** null: the body is complete; otherwise why it was cut. */
  end(error: string | null): void;
}

export interface WebStream {
  /** Gives the answer up: the host is told, and the sink hears nothing more. */
  cancel(): void;
}

export interface WebClientOptions {
  mesh: MeshPort;
  clock: Clock;
  book: VmBook;
  /** How long to wait for a link to the host. */
  linkTimeoutMs?: number;
  /** How long to wait for the whole answer (the host has its own, shorter, deadlines). */
  timeoutMs?: number;
  /** How long a request keeps trying while its VM moves (within `timeoutMs`). */
  retryForMs?: number;
  /** The pause between tries when nothing changed (a new lease ends it at once). */
  retryPauseMs?: number;
  maxResponseBytes?: number;
}

/** One try: the answer to give, or a refusal that a later try may get past. */
type Attempt =
  | { final: true; response: WebResponse; streaming?: true }
  | { final: false; response: WebResponse; reached: boolean };

const final = (response: WebResponse): Attempt => ({ final: true, response });
const retry = (response: WebResponse, reached = false): Attempt => ({ final: false, response, reached });
const IDEMPOTENT = new Set(["GET", "HEAD"]);

interface Pending {
  host: PeerAddress;
  head: Extract<WebMessage, { t: "head" }> | null;
  chunks: Uint8Array[];
  bytes: number;
  done: (r: WebResponse) => void;
  /** Ends the answer's deadline. */
  stopTimer: () => void;
  /** The host went away before its answer: another host may answer it. */
  lost: boolean;
  /** A streamed answer's sink; once its head is given, the rest goes there as it comes. */
  sink: WebBodySink | null;
  streaming: boolean;
}

/** A gateway's own answer: plain text, with Retry-After when trying again may help. */
export function gatewayError(status: number, message: string, retryAfterS?: number): WebResponse {
  const headers: [string, string][] = [["Content-Type", "text/plain; charset=utf-8"]];
  if (retryAfterS !== undefined) headers.push(["Retry-After", String(retryAfterS)]);
  return { status, statusText: "", headers, body: new TextEncoder().encode(`${message}\n`) };
}

export class WebClient {
  private readonly channel: PeerChannel;
  private readonly pending = new Map<string, Pending>();
  private readonly off: (() => void)[];
  private disposed = false;

  constructor(private readonly o: WebClientOptions) {
    this.channel = o.mesh.channel(WEB_PROTOCOL);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        const m = parseWebMessage(payload);
        if (m) this.onMessage(remote, m);
      }),
      o.mesh.on("close", (remote) => {
        for (const [id, p] of this.pending)
          if (p.host === remote) {
            p.lost = true;
            this.settle(id, gatewayError(503, "the VM's host went away; try again", 2));
          }
      }),
    ];
  }

  dispose(): void {
    this.disposed = true;
    for (const off of this.off.splice(0)) off();
    for (const id of [...this.pending.keys()]) this.settle(id, gatewayError(503, "shutting down", 2));
  }

  /** Asks port `port` of VM `vmId` (wherever it runs now), for the whole answer. */
  fetch(vmId: string, port: number, request: WebRequest): Promise<WebResponse> {
    return this.run(vmId, port, request, null);
  }

  /**
   * Asks as `fetch` does, giving the answer to `sink` as it comes: resolves once
   * the head is given (a gateway's own refusal is given whole by then).
   */
  async stream(vmId: string, port: number, request: WebRequest, sink: WebBodySink): Promise<WebStream> {
    let id: string | null = null;
    const r = await this.run(vmId, port, request, { sink, started: (started) => (id = started) });
    if (id !== null) {
      const streamId: string = id;
      return {
        cancel: () => {
          const p = this.pending.get(streamId);
          if (!p) return;
          this.channel.send(p.host, encodeWebMessage({ t: "cancel", id: streamId }));
          this.endStream(streamId, p, null, false);
        },
      };
    }
    sink.head(r);
    if (r.body.length > 0) sink.chunk(r.body);
    sink.end(null);
    return { cancel: () => {} };
  }

  private async run(
    vmId: string,
    port: number,
    request: WebRequest,
    streamed: { sink: WebBodySink; started: (id: string) => void } | null,
  ): Promise<WebResponse> {
    if (request.body.length > MAX_REQUEST_BODY_BYTES)
      return gatewayError(413, `request bodies are limited to ${MAX_REQUEST_BODY_BYTES / 1024} KiB`);
    const { clock } = this.o;
    const start = clock.nowMs();
    const endAt = start + (this.o.timeoutMs ?? 35_000);
    const retryUntil = Math.min(endAt, start + (this.o.retryForMs ?? 20_000));
    for (;;) {
      const attempt = await this.attempt(vmId, port, request, retryUntil, endAt, streamed);
      if (attempt.final || this.disposed) return attempt.response;
      if (attempt.reached && !IDEMPOTENT.has(request.method)) return attempt.response;
      const left = retryUntil - clock.nowMs();
      if (left <= 0) return attempt.response;
      await this.changeOr(Math.min(left, this.o.retryPauseMs ?? 250));
    }
  }

  /** Waits `ms`, or less if the VM book changes (a new lease may name the new host). */
  private changeOr(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        off();
        cancel();
        resolve();
      };
      const off = this.o.book.observe(done);
      const cancel = this.o.clock.after(ms, done);
    });
  }

  /** Resolves when the VM's current lease is no longer `epoch`; `stop` ends the watch. */
  private leaseMoves(vmId: string, owner: string, epoch: number): { moved: Promise<void>; stop: () => void } {
    let stop = () => {};
    const moved = new Promise<void>((resolve) => {
      const off = this.o.book.observe(() => {
        void this.o.book.currentLease(vmId, owner).then((l) => {
          if (l && l.lease.epoch !== epoch) {
            off();
            resolve();
          }
        });
      });
      stop = off;
    });
    return { moved, stop };
  }

  private async attempt(
    vmId: string,
    port: number,
    request: WebRequest,
    retryUntil: number,
    endAt: number,
    streamed: { sink: WebBodySink; started: (id: string) => void } | null,
  ): Promise<Attempt> {
    const vm = await this.o.book.vm(vmId);
    if (!vm || vm.vm.deleted) return final(gatewayError(404, "no such VM"));
    const lease = await this.o.book.currentLease(vmId, vm.vm.owner);
    const host = lease?.lease.host ?? null;
    if (!lease || !host) return final(gatewayError(503, "the VM is not running now", 5));
    if (host === this.o.mesh.self) return final(gatewayError(508, "this peer hosts the VM; ask it directly"));
    const unreachable = gatewayError(503, "the VM's host cannot be reached now (it may be moving)", 2);
    this.o.mesh.pin(host);
    let keepPin = false;
    const watch = this.leaseMoves(vmId, vm.vm.owner, lease.lease.epoch);
    try {
      const waitMs = Math.max(0, Math.min(this.o.linkTimeoutMs ?? 5000, retryUntil - this.o.clock.nowMs()));
      const linked = await Promise.race([
        whenOpen(this.o.mesh, host, this.o.clock, waitMs),
        watch.moved.then(() => false),
      ]);
      if (!linked) return retry(unreachable);
      const asked = await this.ask(host, vmId, port, request, endAt, streamed);
      // A streamed answer keeps its link pinned until its end.
      keepPin = asked.final && asked.streaming === true;
      return asked;
    } finally {
      watch.stop();
      if (!keepPin) this.o.mesh.unpin(host);
    }
  }

  private ask(
    host: PeerAddress,
    vmId: string,
    port: number,
    request: WebRequest,
    endAt: number,
    streamed: { sink: WebBodySink; started: (id: string) => void } | null,
  ): Promise<Attempt> {
    const id = randomHex(REQUEST_ID_BYTES);
    return new Promise<Attempt>((resolve) => {
      const stopTimer = this.o.clock.after(Math.max(0, endAt - this.o.clock.nowMs()), () => {
        this.channel.send(host, encodeWebMessage({ t: "cancel", id }));
        this.settle(id, gatewayError(504, "the VM did not answer in time"));
      });
      const pending: Pending = {
        host,
        head: null,
        chunks: [],
        bytes: 0,
        lost: false,
        sink: streamed?.sink ?? null,
        streaming: false,
        stopTimer,
        done: (r) => {
          if (pending.streaming) {
            streamed?.started(id);
            resolve({ final: true, response: r, streaming: true });
            return;
          }
          stopTimer();
          // The host's own refusals (not running here, busy) come before the guest sees anything.
          if (pending.lost) resolve(retry(r, true));
          else if (r.status === 503 && pending.head === null) resolve(retry(r));
          else resolve(final(r));
        },
      };
      this.pending.set(id, pending);
      const sent = this.channel.send(host, encodeWebMessage({ t: "request", id, vmId, port, ...request }));
      if (!sent) this.settle(id, gatewayError(503, "the VM's host cannot be reached now", 2));
    });
  }

  private onMessage(remote: PeerAddress, m: WebMessage): void {
    const p = this.pending.get(m.id);
    if (!p || p.host !== remote) return; // only the host asked answers
    switch (m.t) {
      case "head":
        if (p.head) return;
        p.head = m;
        if (p.sink) {
          // From here the answer is the sink's: no retry, and the deadline still runs.
          p.streaming = true;
          p.sink.head({ status: m.status, statusText: m.statusText, headers: m.headers });
          p.done({ status: m.status, statusText: m.statusText, headers: m.headers, body: new Uint8Array() });
        }
        return;
      case "body":
        p.bytes += m.bytes.length;
        if (!p.head || p.bytes > (this.o.maxResponseBytes ?? 16 * 1024 * 1024)) {
          this.channel.send(remote, encodeWebMessage({ t: "cancel", id: m.id }));
          this.settle(m.id, gatewayError(502, "the VM's answer is too large or out of order"));
          return;
        }
        if (p.streaming) p.sink?.chunk(m.bytes);
        else p.chunks.push(m.bytes);
        return;
      case "end":
        if (!p.head) {
          this.settle(m.id, gatewayError(502, "the VM's answer had no head"));
          return;
        }
        if (p.streaming) {
          this.endStream(m.id, p, null);
          return;
        }
        this.settle(m.id, {
          status: p.head.status,
          statusText: p.head.statusText,
          headers: p.head.headers,
          body: join(p.chunks, p.bytes),
        });
        return;
      case "error":
        this.settle(m.id, gatewayError(m.status, m.message, m.retryAfterS));
        return;
      default:
        return;
    }
  }

  /** Ends a request with `r`; a streamed answer past its head ends with an error instead. */
  private settle(id: string, r: WebResponse): void {
    const p = this.pending.get(id);
    if (!p) return;
    if (p.streaming) this.endStream(id, p, `${r.status}: ${new TextDecoder().decode(r.body).trim()}`);
    else {
      this.pending.delete(id);
      p.done(r);
    }
  }

  /** A streamed answer is over: its deadline and its link's pin end, and the sink hears why (if told). */
  private endStream(id: string, p: Pending, error: string | null, tell = true): void {
    this.pending.delete(id);
    p.stopTimer();
    this.o.mesh.unpin(p.host);
    if (tell) p.sink?.end(error);
  }
}

function join(chunks: Uint8Array[], bytes: number): Uint8Array {
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
