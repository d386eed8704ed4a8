// What a sealed checkpoint holds before sealing: the console transcript (so a tab
// that attaches after a move sees what the console showed) and the state as a
// delta against the VM's image (core/state-delta.ts). gzip and AES-GCM wrap this.

const MAGIC = 0x53434b31; // "SCK1"
const MAX_TRANSCRIPT_BYTES = 1024 * 1024;

export class CheckpointFormatError extends Error {}

export function packCheckpoint(transcript: string, delta: Uint8Array): Uint8Array {
  const text = new TextEncoder().encode(transcript);
  const out = new Uint8Array(8 + text.length + delta.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, MAGIC);
  view.setUint32(4, text.length);
  out.set(text, 8);
  out.set(delta, 8 + text.length);
  return out;
}

export function unpackCheckpoint(bytes: Uint8Array): { transcript: string; delta: Uint8Array } {
  if (bytes.length < 8) throw new CheckpointFormatError("checkpoint too short");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0) !== MAGIC) throw new CheckpointFormatError("not a Spare Cycles checkpoint");
  const textBytes = view.getUint32(4);
  if (textBytes > MAX_TRANSCRIPT_BYTES || 8 + textBytes > bytes.length)
    throw new CheckpointFormatError("bad transcript length");
  return {
    transcript: new TextDecoder().decode(bytes.subarray(8, 8 + textBytes)),
    delta: bytes.subarray(8 + textBytes),
  };
}
