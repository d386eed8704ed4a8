// Asking a VM's published port for a page, from any peer: the signed lease says
// which host runs the VM now; the request goes to it over the mesh and its answer
// comes back as frames (web-host.ts). A VM that is stopped or moving, or whose
// host cannot be reached, is a 503 with Retry-After, as a gateway should say.
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

export interface WebClientOptions {
  mesh: MeshPort;
  clock: Clock;
  book: VmBook;
  /** How long to wait for a link to the host. */
  linkTimeoutMs?: number;
  /** How long to wait for the whole answer (the host has its own, shorter, deadlines). */
  timeoutMs?: number;
  maxResponseBytes?: number;
}

interface Pending {
  host: PeerAddress;
  head: Extract<WebMessage, { t: "head" }> | null;
  chunks: Uint8Array[];
  bytes: number;
  done: (r: WebResponse) => void;
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

  constructor(private readonly o: WebClientOptions) {
    this.channel = o.mesh.channel(WEB_PROTOCOL);
    this.off = [
      this.channel.on("message", (remote, payload) => {
        const m = parseWebMessage(payload);
        if (m) this.onMessage(remote, m);
      }),
      o.mesh.on("close", (remote) => {
        for (const [id, p] of this.pending)
          if (p.host === remote) this.settle(id, gatewayError(503, "the VM's host went away; try again", 2));
      }),
    ];
  }

  dispose(): void {
    for (const off of this.off.splice(0)) off();
    for (const id of [...this.pending.keys()]) this.settle(id, gatewayError(503, "shutting down", 2));
  }

  /** Asks port `port` of VM `vmId` (wherever it runs now). */
  async fetch(vmId: string, port: number, request: WebRequest): Promise<WebResponse> {
    if (request.body.length > MAX_REQUEST_BODY_BYTES)
      return gatewayError(413, `request bodies are limited to ${MAX_REQUEST_BODY_BYTES / 1024} KiB`);
    const vm = await this.o.book.vm(vmId);
    if (!vm || vm.vm.deleted) return gatewayError(404, "no such VM");
    const lease = await this.o.book.currentLease(vmId, vm.vm.owner);
    const host = lease?.lease.host ?? null;
    if (!host) return gatewayError(503, "the VM is not running now", 5);
    if (host === this.o.mesh.self) return gatewayError(508, "this peer hosts the VM; ask it directly");
    this.o.mesh.pin(host);
    try {
      if (!(await whenOpen(this.o.mesh, host, this.o.clock, this.o.linkTimeoutMs ?? 5000)))
        return gatewayError(503, "the VM's host cannot be reached now (it may be moving)", 2);
      return await this.ask(host, vmId, port, request);
    } finally {
      this.o.mesh.unpin(host);
    }
  }

  private ask(host: PeerAddress, vmId: string, port: number, request: WebRequest): Promise<WebResponse> {
    const id = randomHex(REQUEST_ID_BYTES);
    return new Promise<WebResponse>((resolve) => {
      const cancel = this.o.clock.after(this.o.timeoutMs ?? 35_000, () => {
        this.channel.send(host, encodeWebMessage({ t: "cancel", id }));
        this.settle(id, gatewayError(504, "the VM did not answer in time"));
      });
      this.pending.set(id, {
        host,
        head: null,
        chunks: [],
        bytes: 0,
        done: (r) => {
          cancel();
          resolve(r);
        },
      });
      const sent = this.channel.send(host, encodeWebMessage({ t: "request", id, vmId, port, ...request }));
      if (!sent) this.settle(id, gatewayError(503, "the VM's host cannot be reached now", 2));
    });
  }

  private onMessage(remote: PeerAddress, m: WebMessage): void {
    const p = this.pending.get(m.id);
    if (!p || p.host !== remote) return; // only the host asked answers
    switch (m.t) {
      case "head":
        if (!p.head) p.head = m;
        return;
      case "body":
        p.bytes += m.bytes.length;
        if (!p.head || p.bytes > (this.o.maxResponseBytes ?? 16 * 1024 * 1024)) {
          this.channel.send(remote, encodeWebMessage({ t: "cancel", id: m.id }));
          this.settle(m.id, gatewayError(502, "the VM's answer is too large or out of order"));
          return;
        }
        p.chunks.push(m.bytes);
        return;
      case "end":
        if (!p.head) {
          this.settle(m.id, gatewayError(502, "the VM's answer had no head"));
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

  private settle(id: string, r: WebResponse): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    p.done(r);
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
