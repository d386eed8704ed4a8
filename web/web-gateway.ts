// This page as the web gateway for its browser: the service worker hands it
// requests under /vm/ (worker/sw.ts); it finds the published port the address
// names (a VM id or a unique name) and asks the VM's host over the mesh
// (core/vm/web-client.ts), then answers on the port the request came with.

import { gatewayError, type WebClient, type WebResponse } from "../core/vm/web-client.ts";
import { type GatewayAnswer, type GatewayRequest, isGatewayRequest } from "../core/web/gateway-messages.ts";
import type { WebBook } from "../core/web/web-book.ts";

/** Starts answering the service worker's requests; returns the function that stops it. */
export function serveGateway(book: WebBook, client: WebClient): () => void {
  if (!("serviceWorker" in navigator)) return () => {};
  const onMessage = (event: MessageEvent) => {
    const reply = event.ports[0];
    if (!reply || !isGatewayRequest(event.data)) return;
    const r = event.data;
    void answer(book, client, r).then((res) => {
      const body = res.body.slice().buffer as ArrayBuffer;
      const out: GatewayAnswer = {
        status: res.status,
        statusText: res.statusText,
        headers: res.headers,
        body,
      };
      reply.postMessage(out, [body]);
    });
  };
  navigator.serviceWorker.addEventListener("message", onMessage);
  return () => navigator.serviceWorker.removeEventListener("message", onMessage);
}

async function answer(book: WebBook, client: WebClient, r: GatewayRequest): Promise<WebResponse> {
  try {
    const published = await book.resolve(r.ref, r.port ?? undefined);
    if (!published) return gatewayError(404, `nothing is published at ${r.ref}${r.port ? `:${r.port}` : ""}`);
    return await client.fetch(published.vmId, published.port, {
      method: r.method,
      target: r.target,
      // What the browser adds for its own origin means nothing to the guest.
      headers: r.headers.filter(([n]) => !/^(cookie|origin|referer|sec-|service-worker)/i.test(n)),
      body: new Uint8Array(r.body),
    });
  } catch (err) {
    return gatewayError(502, `the gateway failed: ${err instanceof Error ? err.message : String(err)}`);
  }
}
