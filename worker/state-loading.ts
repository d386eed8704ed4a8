// Restoring a VM from a saved state: the state downloaded, unpacked or unsealed
// while the emulator is made, then restored into it; or, when `prepare` already
// restored that state into an emulator, that emulator as it is.
import type { V86 } from "v86";
import { exactBuffer, gunzip, isGzip } from "../core/util/bytes.ts";
import type { GuestSource, StateSource, VmHostEvents } from "./api.ts";
import { loadBase } from "./base-states.ts";
import { openCheckpoint, rememberBase } from "./checkpoints.ts";
import { openDeltaSnapshot } from "./local-saves.ts";
import type { TakenEmulator, VmPreparation } from "./vm-preparation.ts";

export interface Restored {
  emulator: V86;
  /** The transcript the state carried (sealed checkpoints), else null. */
  transcript: string | null;
}

/** Loads a state and restores it; the emulator is made while the state downloads. */
export async function restoreState(
  guest: GuestSource,
  wasm: Promise<WebAssembly.Module>,
  source: StateSource,
  preparation: VmPreparation,
  events: VmHostEvents,
  timingsMs: Record<string, number>,
): Promise<Restored> {
  const t0 = performance.now();
  const url = source.kind === "url" ? source.url : null;
  const ahead = url !== null && preparation.restoresAhead(url);
  const made = preparation.takeEmulator(guest, wasm, url);
  made.then(
    () => (timingsMs.emulatorReadyMs = Math.round(performance.now() - t0)),
    () => {}, // awaited below; a failure here is reported there
  );
  if (ahead) {
    const taken = await made;
    if (taken.restored) {
      timingsMs.preparedMs = Math.round(performance.now() - t0);
      return { emulator: taken.emulator, transcript: null };
    }
  }
  let bytes: Uint8Array;
  let transcript: string | null;
  try {
    ({ raw: bytes, transcript } = await loadState(source, events, timingsMs));
    timingsMs.stateMs = Math.round(performance.now() - t0);
  } catch (err) {
    await (await made.catch(() => null))?.emulator.destroy().catch(() => {});
    throw err;
  }
  const { emulator } = (await made) as TakenEmulator;
  timingsMs.emulatorMs = Math.round(performance.now() - t0);
  events.progress({ stage: "restore", label: "Restoring the VM", done: 0, total: 1 });
  const t1 = performance.now();
  try {
    // restore_state copies out of the bytes and leaves them as they were.
    await emulator.restore_state(exactBuffer(bytes));
  } catch (err) {
    await emulator.destroy().catch(() => {});
    throw err;
  }
  timingsMs.restoreMs = Math.round(performance.now() - t1);
  // The image's state is what local saves are deltas against: keep it rather than get it again.
  if (source.kind === "url") rememberBase(source.sha256, bytes);
  events.progress({ stage: "restore", label: "Restoring the VM", done: 1, total: 1 });
  return { emulator, transcript };
}

/** The state's raw bytes: downloaded and unpacked as they arrive, unpacked from memory, or unsealed. */
async function loadState(
  source: StateSource,
  events: VmHostEvents,
  timingsMs: Record<string, number>,
): Promise<{ raw: Uint8Array; transcript: string | null }> {
  if (source.kind === "sealed") {
    events.progress({ stage: "decompress", label: "Opening the checkpoint", done: 0, total: 1 });
    return openCheckpoint(source);
  }
  if (source.kind === "delta") {
    events.progress({ stage: "decompress", label: "Unpacking the saved VM", done: 0, total: 1 });
    return { raw: await openDeltaSnapshot(source.bytes, source.base, timingsMs), transcript: null };
  }
  if (source.kind === "url") {
    const label = "Downloading the VM state";
    const raw = await loadBase(source, (done, total) =>
      events.progress({ stage: "download", label, done, total }),
    );
    return { raw, transcript: null };
  }
  const bytes = new Uint8Array(source.bytes);
  if (!isGzip(bytes)) return { raw: bytes, transcript: null };
  events.progress({ stage: "decompress", label: "Unpacking the VM state", done: 0, total: 1 });
  return { raw: await gunzip(bytes), transcript: null };
}
