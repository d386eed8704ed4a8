// The image's state (what deltas are against), kept unpacked in Cache Storage
// once this device has it: resuming a saved VM then reads 37 MB from disk (tens
// of milliseconds) instead of downloading and unpacking 10 MB (half a second).
// It is kept once something depends on it (worker/checkpoints.ts: a save, a
// checkpoint), not for every visit. What is read back is checked against the
// SHA-256 noted when it was written; anything else is downloaded as before. One
// image's state is kept at a time. A browser downloads the brotli copy where
// the server has one (the server sends it compressed, the browser unpacks it).
import { delay } from "../core/util/async.ts";
import { sha256Hex } from "../core/util/bytes.ts";
import type { BaseSource } from "./api.ts";
import { DownloadError, fetchBytes, fetchGunzipped } from "./fetch-bytes.ts";

const CACHE_NAME = "spare-cycles-unpacked-states";
const RAW_SHA_HEADER = "x-raw-sha256";
/** Writing waits this long, to stay off a start's critical path. */
const KEEP_AFTER_MS = 3000;
/** Bases this worker wrote, or found written. */
const kept = new Set<string>();

function cacheStorage(): CacheStorage | null {
  return typeof caches === "undefined" ? null : caches;
}

function cacheKey(sha256: string): string {
  return new URL(`/unpacked-state/${sha256}`, globalThis.location?.origin).href;
}

/** The unpacked base: a checked copy kept on this device, or else downloaded. */
export async function loadBase(
  base: BaseSource,
  onProgress?: (done: number, total: number) => void,
): Promise<Uint8Array> {
  const found = await readKept(base.sha256).catch(() => null);
  if (found) return found;
  if (base.brotli) {
    try {
      return await fetchBytes(base.brotli.url, {
        expectedSha256: base.brotli.rawSha256,
        expectedBytes: base.brotli.rawBytes,
        ...(onProgress && { onProgress }),
      });
    } catch (err) {
      // A server without the brotli copy (vite's dev server): the gzip file, as before.
      if (!(err instanceof DownloadError && err.status === 404)) throw err;
    }
  }
  return fetchGunzipped(base.url, {
    expectedSha256: base.sha256,
    expectedBytes: base.bytes,
    ...(onProgress && { onProgress }),
  });
}

/** Keeps the unpacked bytes of a verified base for next time (a few seconds from now, once). */
export function keepBase(sha256: string, raw: Uint8Array): void {
  const storage = cacheStorage();
  if (!storage || kept.has(sha256)) return;
  kept.add(sha256);
  delay(KEEP_AFTER_MS)
    .then(() => write(storage, sha256, raw))
    .catch((err) => {
      kept.delete(sha256);
      console.warn("could not keep the unpacked image state", err);
    });
}

async function write(storage: CacheStorage, sha256: string, raw: Uint8Array): Promise<void> {
  const cache = await storage.open(CACHE_NAME);
  const key = cacheKey(sha256);
  for (const request of await cache.keys()) if (request.url !== key) await cache.delete(request);
  if (await cache.match(key)) return;
  const headers = { [RAW_SHA_HEADER]: await sha256Hex(raw), "content-type": "application/octet-stream" };
  await cache.put(key, new Response(raw as Uint8Array<ArrayBuffer>, { headers }));
}

async function readKept(sha256: string): Promise<Uint8Array | null> {
  const storage = cacheStorage();
  if (!storage) return null;
  const cache = await storage.open(CACHE_NAME);
  const response = await cache.match(cacheKey(sha256));
  if (!response) return null;
  const expected = response.headers.get(RAW_SHA_HEADER);
  const raw = new Uint8Array(await response.arrayBuffer());
  if (!expected || (await sha256Hex(raw)) !== expected) {
    await cache.delete(cacheKey(sha256));
    return null;
  }
  kept.add(sha256);
  return raw;
}
