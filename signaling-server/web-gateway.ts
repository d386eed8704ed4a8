// The web gateway for anyone on the web: `GET http://<server>/vm/<ref>/…` is
// carried to the VM's current host by the server itself, as a peer of the room
// (a Node PeerNode over node-datachannel, joined through this server's own
// signaling on the first request): it reads the published ports and leases
// from the shared state like any peer, and asks the host over the mesh
// (core/vm/web-client.ts). Bounded: a rate per client address, a 64 KiB upload
// cap, the client's and host's deadlines; a VM that is moving is a 503 with
// Retry-After.
import type { IncomingMessage, ServerResponse } from "node:http";
import { createIdentity } from "../core/crypto/identity.ts";
import { VmBook } from "../core/state/vm-book.ts";
import { systemClock } from "../core/util/clock.ts";
import { TokenBucket } from "../core/util/token-bucket.ts";
import { gatewayError, WebClient, type WebResponse } from "../core/vm/web-client.ts";
import { parseGatewayPath } from "../core/web/gateway-path.ts";
import { WebBook } from "../core/web/web-book.ts";
import { MAX_REQUEST_BODY_BYTES } from "../core/web/web-protocol.ts";
import { type NodePeer, startNodePeer } from "../transports/node-peer.ts";

export interface WebGatewayOptions {
  /** The room whose VMs the gateway serves (the app's default network is "main"). */
  room: string;
  /** This server's own signaling URL (ws://…/signal), known once it listens. */
  signalUrl: () => string;
  /** How long a first request waits for the room's state to arrive. */
  stateWaitMs?: number;
  perClientPerS?: number;
  perClientBurst?: number;
}

interface Joined {
  peer: NodePeer;
  book: WebBook;
  client: WebClient;
}

const MAX_CLIENTS = 4096;
const HEADERS_FROM_CLIENT =
  /^(accept|accept-language|content-type|if-none-match|if-modified-since|range|user-agent)$/i;

export class WebGateway {
  private joined: Promise<Joined> | null = null;
  private readonly clients = new Map<string, TokenBucket>();

  constructor(private readonly o: WebGatewayOptions) {}

  /** Answers `req` if it is a /vm/ address; false if it is not one. */
  handle(req: IncomingMessage, res: ServerResponse, ip: string): boolean {
    const url = new URL(req.url ?? "/", "http://gateway");
    const target = parseGatewayPath(url.pathname, url.search);
    if (!target) return false;
    void this.answer(req, target, ip).then(
      (r) => send(res, r),
      (err: unknown) => send(res, gatewayError(502, `the gateway failed: ${String(err)}`)),
    );
    return true;
  }

  async close(): Promise<void> {
    const j = await this.joined?.catch(() => null);
    j?.client.dispose();
    j?.peer.stop();
    this.joined = null;
  }

  private bucket(ip: string): TokenBucket {
    let b = this.clients.get(ip);
    if (!b) {
      if (this.clients.size >= MAX_CLIENTS) this.clients.delete(this.clients.keys().next().value!);
      b = new TokenBucket(this.o.perClientPerS ?? 50, this.o.perClientBurst ?? 100, () => Date.now());
      this.clients.set(ip, b);
    }
    return b;
  }

  private async answer(
    req: IncomingMessage,
    target: NonNullable<ReturnType<typeof parseGatewayPath>>,
    ip: string,
  ): Promise<WebResponse> {
    if (!this.bucket(ip).take(1)) return gatewayError(429, "too many requests; slow down", 1);
    const body = await readBody(req);
    if (!body) return gatewayError(413, `request bodies are limited to ${MAX_REQUEST_BODY_BYTES / 1024} KiB`);
    const j = await this.join();
    const published = await this.waitFor(() => j.book.resolve(target.ref, target.port));
    if (!published)
      return gatewayError(
        404,
        `nothing is published at ${target.ref}${target.port ? `:${target.port}` : ""}`,
      );
    const headers: [string, string][] = [];
    for (const [name, value] of Object.entries(req.headers))
      if (HEADERS_FROM_CLIENT.test(name) && typeof value === "string") headers.push([name, value]);
    return j.client.fetch(published.vmId, published.port, {
      method: req.method ?? "GET",
      target: target.target,
      headers,
      body,
    });
  }

  /** The room's state arrives over the mesh after joining: a first request waits for it, briefly. */
  private async waitFor<T>(look: () => Promise<T | null>): Promise<T | null> {
    const end = Date.now() + (this.o.stateWaitMs ?? 10_000);
    for (;;) {
      const found = await look();
      if (found || Date.now() > end) return found;
      await new Promise<void>((r) => systemClock.after(250, r));
    }
  }

  private join(): Promise<Joined> {
    this.joined ??= (async () => {
      const identity = await createIdentity();
      const peer = startNodePeer({
        url: this.o.signalUrl(),
        room: this.o.room,
        identity,
        presence: () => ({
          name: "web gateway",
          appVersion: "server",
          capacity: { contributing: false, cores: 0, memoryMiB: 0, budgetPct: 0, slots: 0 },
          load: { vms: 0, usedPct: 0 },
        }),
      });
      const vms = new VmBook(peer.node.store);
      return {
        peer,
        book: new WebBook(peer.node.store, vms, identity),
        client: new WebClient({ mesh: peer.node.mesh, clock: systemClock, book: vms }),
      };
    })();
    return this.joined;
  }
}

/** The request's body, or null if it is larger than a request may be. */
async function readBody(req: IncomingMessage): Promise<Uint8Array | null> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > MAX_REQUEST_BODY_BYTES) return null;
    chunks.push(chunk);
  }
  return new Uint8Array(Buffer.concat(chunks));
}

function send(res: ServerResponse, r: WebResponse): void {
  if (res.headersSent) return;
  res.statusCode = r.status;
  for (const [name, value] of r.headers) {
    if (/^(connection|keep-alive|transfer-encoding|content-length)$/i.test(name)) continue;
    try {
      res.appendHeader(name, value);
    } catch {
      // a header Node will not send (invalid characters): left out
    }
  }
  res.setHeader("Content-Length", r.body.length);
  res.end(r.body);
}
