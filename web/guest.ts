// The guest image this build ships (public/guest/), as the worker wants it.
import v86WasmUrl from "v86/build/v86.wasm?url";
import {
  type GuestFile,
  type GuestManifest,
  guestSourceOf,
  parseGuestManifest,
} from "../core/guest/guest-manifest.ts";
import manifestJson from "../public/guest/manifest.json";
import type { GuestSource, StateSource } from "../worker/api.ts";

export const guestManifest: GuestManifest = parseGuestManifest(manifestJson);

/** An absolute URL (workers resolve relative URLs against their own script). The hash keeps caches honest. */
function fileUrl(file: GuestFile): string {
  return new URL(`guest/${file.path}?v=${file.sha256.slice(0, 16)}`, document.baseURI).href;
}

export function guestSource(): GuestSource {
  return guestSourceOf(guestManifest, fileUrl, new URL(v86WasmUrl, document.baseURI).href);
}

export function imageState(): Extract<StateSource, { kind: "url" }> {
  const { state } = guestManifest.files;
  const brotli = state.transport && {
    url: fileUrl({
      path: state.transport.path,
      sha256: state.transport.rawSha256,
      bytes: state.transport.bytes,
    }),
    rawSha256: state.transport.rawSha256,
    rawBytes: state.rawBytes,
  };
  return {
    kind: "url",
    url: fileUrl(state),
    sha256: state.sha256,
    bytes: state.bytes,
    ...(brotli && { brotli }),
    transcript: guestManifest.consoleTranscript,
    label: "The image's saved state",
  };
}

/**
 * Makes sure the files a VM needs to start offline are in the service worker's
 * cache. A VM started before the service worker controlled the page fetched
 * them past it; this fetches them again through it (once).
 */
export async function keepGuestCached(): Promise<boolean> {
  if (!("serviceWorker" in navigator) || !("caches" in window)) return false;
  const sw = navigator.serviceWorker;
  await sw.ready;
  if (!sw.controller) {
    await new Promise((resolve) => sw.addEventListener("controllerchange", resolve, { once: true }));
  }
  const state = imageState();
  for (const url of [state.brotli?.url ?? state.url, guestSource().wasmUrl]) {
    if (await caches.match(url)) continue;
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    await response.arrayBuffer();
  }
  return true;
}
