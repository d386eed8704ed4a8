// Downloads a file completely, reporting progress, and checks its SHA-256.
import { sha256Hex } from "../core/util/bytes.ts";

export class DownloadError extends Error {
  /** The HTTP status that ended it, if it was one. */
  status: number | null = null;
}

export interface FetchBytesOptions {
  expectedSha256?: string;
  /** Size to show progress against when the server sends no Content-Length. */
  expectedBytes?: number;
  onProgress?: (loaded: number, total: number) => void;
  signal?: AbortSignal;
}

async function open(
  url: string,
  options: FetchBytesOptions,
): Promise<{ body: ReadableStream<Uint8Array>; total: number }> {
  let response: Response;
  try {
    response = await fetch(url, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    throw new DownloadError(`could not download ${url} (offline, and not cached yet?): ${String(err)}`);
  }
  if (!response.ok || !response.body) {
    const err = new DownloadError(`could not download ${url}: HTTP ${response.status}`);
    err.status = response.status;
    throw err;
  }
  // A body compressed on the way is read unpacked: its Content-Length is not what arrives.
  const encoded = (response.headers.get("content-encoding") ?? "identity") !== "identity";
  const length = encoded ? 0 : Number(response.headers.get("content-length"));
  const total = length || options.expectedBytes || 0;
  return { body: response.body, total };
}

async function collect(
  body: ReadableStream<Uint8Array>,
  total: number,
  onProgress?: (loaded: number, total: number) => void,
): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let loaded = 0;
  const reader = body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    loaded += value.length;
    onProgress?.(loaded, Math.max(total, loaded));
  }
  const bytes = new Uint8Array(loaded);
  let at = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, at);
    at += chunk.length;
  }
  return bytes;
}

async function verify(url: string, bytes: Uint8Array, expectedSha256: string | undefined): Promise<void> {
  if (!expectedSha256) return;
  const actual = await sha256Hex(bytes);
  if (actual !== expectedSha256) {
    throw new DownloadError(
      `${url} is corrupt: SHA-256 ${actual.slice(0, 12)}…, expected ${expectedSha256.slice(0, 12)}…`,
    );
  }
}

export async function fetchBytes(url: string, options: FetchBytesOptions = {}): Promise<Uint8Array> {
  const { body, total } = await open(url, options);
  const bytes = await collect(body, total, options.onProgress);
  await verify(url, bytes, options.expectedSha256);
  return bytes;
}

/**
 * Downloads a gzip file and unpacks it while it arrives; the hash is checked on
 * the file as downloaded, before the unpacked bytes are handed out.
 */
export async function fetchGunzipped(url: string, options: FetchBytesOptions = {}): Promise<Uint8Array> {
  const { body, total } = await open(url, options);
  const [raw, packed] = body.tee();
  const inflate = new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  const [compressed, inflated] = await Promise.allSettled([
    collect(raw, total, options.onProgress),
    collect(packed.pipeThrough(inflate), 0),
  ]);
  if (compressed.status === "rejected") throw compressed.reason;
  await verify(url, compressed.value, options.expectedSha256);
  if (inflated.status === "rejected")
    throw new DownloadError(`${url} is not a valid gzip file: ${String(inflated.reason)}`);
  return inflated.value;
}
