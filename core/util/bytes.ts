// Byte helpers that work the same in browsers, workers and Node: hashing with
// WebCrypto and gzip with the Compression Streams API.
import { toHex } from "./hex.ts";

export async function sha256Hex(data: Uint8Array | ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", data as BufferSource);
  return toHex(new Uint8Array(digest));
}

async function pipeThrough(data: Uint8Array, transform: TransformStream<Uint8Array, Uint8Array>) {
  const stream = new Blob([data as BlobPart]).stream().pipeThrough(transform);
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

export function gzip(data: Uint8Array): Promise<Uint8Array> {
  return pipeThrough(data, new CompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>);
}

export function gunzip(data: Uint8Array): Promise<Uint8Array> {
  return pipeThrough(data, new DecompressionStream("gzip") as TransformStream<Uint8Array, Uint8Array>);
}

export function isGzip(data: Uint8Array): boolean {
  return data.length > 2 && data[0] === 0x1f && data[1] === 0x8b;
}

/** The bytes of a view as an ArrayBuffer of exactly that length (copying only when needed). */
export function exactBuffer(view: Uint8Array): ArrayBuffer {
  if (
    view.byteOffset === 0 &&
    view.byteLength === view.buffer.byteLength &&
    view.buffer instanceof ArrayBuffer
  ) {
    return view.buffer;
  }
  return view.slice().buffer as ArrayBuffer;
}
