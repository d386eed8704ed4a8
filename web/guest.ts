// The guest images this build ships, as the worker wants them: the small
// busybox guest (public/guest/, the default, and the only one a local VM runs)
// and the Debian guest (public/guest-debian/, its root a 9p filesystem loaded as
// the guest opens its files), chosen per VM.
import v86WasmUrl from "v86/build/v86.wasm?url";
import {
  type GuestFile,
  type GuestManifest,
  guestSourceOf,
  parseGuestManifest,
  rootDiskBytes,
} from "../core/guest/guest-manifest.ts";
import manifestJson from "../public/guest/manifest.json";
import debianManifestJson from "../public/guest-debian/manifest.json";
import type { GuestSource, StateSource } from "../worker/api.ts";

const MiB = 1024 * 1024;

export interface GuestImage {
  imageId: string;
  /** Short, for people: "Debian 12". */
  label: string;
  /** What a person picks it for. */
  about: string;
  manifest: GuestManifest;
  /** The memory sizes a VM of this image may have; the first is the saved state's (it starts in about a second). */
  memoryChoicesBytes: number[];
  /** The image as a VM host starts it, with `memoryBytes` of memory (default: the saved state's). */
  source(memoryBytes?: number): GuestSource;
  /** The image's saved state: where fresh VMs start, and what checkpoints are deltas against. */
  state(): Extract<StateSource, { kind: "url" }>;
}

function makeImage(
  manifest: GuestManifest,
  dir: string,
  about: Pick<GuestImage, "label" | "about" | "memoryChoicesBytes">,
): GuestImage {
  /** An absolute URL (workers resolve relative URLs against their own script). The hash keeps caches honest. */
  const fileUrl = (file: GuestFile) =>
    new URL(`${dir}/${file.path}?v=${file.sha256.slice(0, 16)}`, document.baseURI).href;
  const root = manifest.filesystem;
  return {
    imageId: manifest.imageId,
    manifest,
    ...about,
    source(memoryBytes) {
      const source = guestSourceOf(manifest, fileUrl, new URL(v86WasmUrl, document.baseURI).href);
      return {
        ...source,
        memorySizeBytes: memoryBytes ?? manifest.memorySizeBytes,
        ...(root && {
          root: {
            indexUrl: fileUrl(root.index),
            // Files are named by their contents' SHA-256: no version query needed.
            filesUrl: new URL(`${dir}/${root.filesDir}`, document.baseURI).href,
            diskBytes: rootDiskBytes(root),
          },
        }),
      };
    },
    state() {
      const { state } = manifest.files;
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
        transcript: manifest.consoleTranscript,
        label: "The image's saved state",
      };
    },
  };
}

export const guestManifest: GuestManifest = parseGuestManifest(manifestJson);

export const smallImage = makeImage(guestManifest, "guest", {
  label: "Small (busybox)",
  about: "a shell and busybox's tools, in 96 MiB",
  memoryChoicesBytes: [guestManifest.memorySizeBytes],
});

const debianManifest = parseGuestManifest(debianManifestJson);
export const debianImage = makeImage(debianManifest, "guest-debian", {
  label: "Debian 12",
  about: "python3, apt with a local package set, wget, nano; a disk that persists",
  memoryChoicesBytes: [debianManifest.memorySizeBytes, 128 * MiB, 512 * MiB],
});

/** Every image, the default first. */
export const guestImages: GuestImage[] = [smallImage, debianImage];

export function imageById(imageId: string): GuestImage | null {
  return guestImages.find((i) => i.imageId === imageId) ?? null;
}

export function guestSource(): GuestSource {
  return smallImage.source();
}

export function imageState(): Extract<StateSource, { kind: "url" }> {
  return smallImage.state();
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
