/// <reference lib="webworker" />
// The service worker: the app shell precached (offline), the guest's files and
// the emulator cached when first used, updates waiting for the user, and the
// web gateway: a request for `/vm/<ref>/…` is handed to an open page of the app,
// which carries it over the mesh to the VM's host (web/web-gateway.ts). A service
// worker cannot hold a WebRTC link itself.
import { CacheableResponsePlugin } from "workbox-cacheable-response";
import { clientsClaim } from "workbox-core";
import { ExpirationPlugin } from "workbox-expiration";
import { cleanupOutdatedCaches, createHandlerBoundToURL, precacheAndRoute } from "workbox-precaching";
import { NavigationRoute, registerRoute } from "workbox-routing";
import { CacheFirst } from "workbox-strategies";
import { parseGatewayPath } from "../core/web/gateway-path.ts";
import { AnswerPort } from "./gateway-answer.ts";

declare const self: ServiceWorkerGlobalScope & {
  __WB_MANIFEST: (string | { url: string; revision: string | null })[];
};

/**
 * How long a page may take to answer a gateway request, and to send the next
 * piece of a body (the host's own deadlines are shorter).
 */
const PAGE_ANSWER_MS = 40_000;
const MAX_UPLOAD_BYTES = 64 * 1024;

// The first install takes control of the open page at once, so the guest files it
// fetches are cached; later versions wait until the user accepts (web/pwa.ts).
clientsClaim();
self.addEventListener("message", (event) => {
  if ((event.data as { type?: unknown } | null)?.type === "SKIP_WAITING") void self.skipWaiting();
});

// The gateway comes first: nothing else answers `/vm/…`.
const scopePath = new URL(self.registration.scope).pathname;
const gatewayPath = (url: URL) =>
  url.origin === self.location.origin && url.pathname.startsWith(scopePath)
    ? parseGatewayPath(`/${url.pathname.slice(scopePath.length)}`, url.search)
    : null;
registerRoute(
  ({ url }) => gatewayPath(url) !== null,
  ({ request, url }) => viaPage(request, gatewayPath(url)!),
);

precacheAndRoute(self.__WB_MANIFEST);
cleanupOutdatedCaches();
registerRoute(
  new NavigationRoute(createHandlerBoundToURL("index.html"), {
    denylist: [/^\/(healthz|metrics|signal)/, /\/vm\//],
  }),
);
registerRoute(
  ({ url }) => url.pathname.includes("/guest/") || url.pathname.endsWith(".wasm"),
  new CacheFirst({
    cacheName: "spare-cycles-guest",
    plugins: [new ExpirationPlugin({ maxEntries: 32 }), new CacheableResponsePlugin({ statuses: [200] })],
  }),
);
// The Debian guest: its kernel, state and index, and the files of its root, which
// a VM fetches one by one as the guest opens them (named by their contents'
// SHA-256, so a cached copy never goes stale). About 3,600 in all.
registerRoute(
  ({ url }) => url.pathname.includes("/guest-debian/"),
  new CacheFirst({
    cacheName: "spare-cycles-guest-debian",
    plugins: [new ExpirationPlugin({ maxEntries: 8000 }), new CacheableResponsePlugin({ statuses: [200] })],
  }),
);

function plain(status: number, text: string, extra: Record<string, string> = {}): Response {
  return new Response(`${text}\n`, {
    status,
    headers: { "Content-Type": "text/plain; charset=utf-8", ...extra },
  });
}

/** Hands the request to a page of the app and answers with what it says. */
async function viaPage(
  request: Request,
  target: NonNullable<ReturnType<typeof gatewayPath>>,
): Promise<Response> {
  const pages = await self.clients.matchAll({ type: "window" });
  // A page the gateway itself served is a guest's page, not the app: it cannot carry requests.
  const page = pages.find((c) => !gatewayPath(new URL(c.url))) ?? null;
  if (!page)
    return plain(
      503,
      "No page of Spare Cycles is open in this browser to reach the VM: open the app in another tab, then reload.",
      { "Retry-After": "5" },
    );
  const body = ["GET", "HEAD"].includes(request.method) ? new ArrayBuffer(0) : await request.arrayBuffer();
  if (body.byteLength > MAX_UPLOAD_BYTES) return plain(413, "request bodies are limited to 64 KiB");
  const headers: [string, string][] = [];
  request.headers.forEach((value, name) => {
    headers.push([name, value]);
  });
  const channel = new MessageChannel();
  const answer = new AnswerPort(channel.port1, PAGE_ANSWER_MS);
  page.postMessage(
    {
      type: "vm-request",
      ref: target.ref,
      port: target.port ?? null,
      method: request.method,
      target: target.target,
      headers,
      body,
    },
    [channel.port2, body],
  );
  const head = await answer.head;
  if (!head) return plain(answer.failure?.status ?? 504, answer.failure?.message ?? "no answer");
  const noBody = request.method === "HEAD" || [101, 204, 205, 304].includes(head.status);
  if (noBody) answer.cancel();
  return new Response(noBody ? null : answer.body, {
    status: head.status,
    statusText: head.statusText,
    headers: head.headers,
  });
}
