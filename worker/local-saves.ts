// Saves of the VM on this device: the state as a delta against the image's state
// (what differs from it, typically well under a megabyte), gzipped. Making one
// takes a tenth of the time of gzipping the whole state, so the VM can be saved
// as it goes; opening one needs the image's state, which the worker keeps.
import type { V86 } from "v86";
import { applyDelta, encodeDelta } from "../core/guest/state-delta.ts";
import { exactBuffer, gunzip, gzip } from "../core/util/bytes.ts";
import type { BaseSource, VmSnapshot } from "./api.ts";
import { baseIndexFor } from "./checkpoints.ts";
import { saveGuestState } from "./guest-nic.ts";

/**
 * The emulator's state with the transcript, gzipped: as a delta against `base`
 * when there is one, else whole.
 */
export async function takeSnapshot(
  emulator: V86,
  transcript: string,
  base?: BaseSource,
): Promise<VmSnapshot> {
  const index = base ? await baseIndexFor(base) : null;
  const t0 = performance.now();
  const raw = new Uint8Array(await saveGuestState(emulator));
  const t1 = performance.now();
  const state = await gzip(index ? encodeDelta(raw, index) : raw);
  const t2 = performance.now();
  return {
    state: exactBuffer(state),
    encoding: index ? "delta-gzip" : "gzip",
    transcript,
    rawBytes: raw.length,
    saveMs: Math.round(t1 - t0),
    compressMs: Math.round(t2 - t1),
  };
}

/**
 * The raw state a local save encodes; throws when it is damaged or made against
 * another base. Notes where the time went in `timingsMs` (baseMs: the base
 * downloaded or found and indexed; applyMs).
 */
export async function openDeltaSnapshot(
  bytes: ArrayBuffer,
  base: BaseSource,
  timingsMs: Record<string, number>,
): Promise<Uint8Array> {
  const t0 = performance.now();
  const [delta, index] = await Promise.all([gunzip(new Uint8Array(bytes)), baseIndexFor(base)]);
  const t1 = performance.now();
  const raw = applyDelta(delta, index);
  timingsMs.baseMs = Math.round(t1 - t0);
  timingsMs.applyMs = Math.round(performance.now() - t1);
  return raw;
}
