// This page as the web gateway for its browser: the service worker hands it
// requests under /vm/ (worker/sw.ts); it finds the published port the address
// names (a VM id or a unique name) and asks the VM's host over the mesh
// (core/vm/web-client.ts), then streams the answer back on the port the request
// came with: the head, each chunk as the host sends it, and the end.

import { gatewayError, type WebBodySink, type WebClient, type WebStream } from "../core/vm/web-client.ts";
import {
  GATEWAY_CANCEL,
  type GatewayFrame,
  type GatewayRequest,
  isGatewayRequest,
} from "../core/web/gateway-messages.ts";
import type { WebBook } from "../core/web/web-book.ts";

/** Starts answering the service worker's requests; returns the function that stops it. */
export function serveGateway(book: WebBook, client: WebClient): () => void {
  if (!("serviceWorker" in navigator)) return () => {};
  const onMessage = (event: MessageEvent) => {
    const reply = event.ports[0];
    if (!reply || !isGatewayRequest(event.data)) return;
    void answer(book, client, event.data, reply);
  };
  navigator.serviceWorker.addEventListener("message", onMessage);
  return () => navigator.serviceWorker.removeEventListener("message", onMessage);
}

async function answer(
  book: WebBook,
  client: WebClient,
  r: GatewayRequest,
  reply: MessagePort,
): Promise<void> {
  let ended = false;
  let headGiven = false;
  const post = (frame: GatewayFrame, transfer: Transferable[] = []) => {
    if (!ended) reply.postMessage(frame, transfer);
  };
  const sink: WebBodySink = {
    head: (head) => {
      headGiven = true;
      post({ type: "head", status: head.status, statusText: head.statusText, headers: head.headers });
    },
    chunk: (bytes) => {
      // A chunk parsed off the mesh owns its whole buffer: it moves to the service worker uncopied.
      const whole = bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength;
      const buffer = (whole ? bytes.buffer : bytes.slice().buffer) as ArrayBuffer;
      post({ type: "body", bytes: buffer }, [buffer]);
    },
    end: (error) => {
      post({ type: "end", error });
      ended = true;
      reply.close();
    },
  };
  let stream: WebStream | null = null;
  // The reader gave the body up (or the response needs none): the host is told.
  reply.onmessage = (event) => {
    if (event.data !== GATEWAY_CANCEL || ended) return;
    ended = true;
    reply.close();
    stream?.cancel();
  };
  try {
    const published = await book.resolve(r.ref, r.port ?? undefined);
    if (!published) return whole(sink, 404, `nothing is published at ${r.ref}${r.port ? `:${r.port}` : ""}`);
    stream = await client.stream(
      published.vmId,
      published.port,
      {
        method: r.method,
        target: r.target,
        // What the browser adds for its own origin means nothing to the guest.
        headers: r.headers.filter(([n]) => !/^(cookie|origin|referer|sec-|service-worker)/i.test(n)),
        body: new Uint8Array(r.body),
      },
      sink,
    );
    if (ended) stream.cancel();
  } catch (err) {
    const message = `the gateway failed: ${err instanceof Error ? err.message : String(err)}`;
    if (headGiven) sink.end(message);
    else whole(sink, 502, message);
  }
}

/** A gateway's own answer, given whole. */
function whole(sink: WebBodySink, status: number, message: string): void {
  const r = gatewayError(status, message);
  sink.head(r);
  sink.chunk(r.body);
  sink.end(null);
}
