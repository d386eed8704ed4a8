// Work done ahead of `start` by `prepare`: an emulator made and loaded, and the
// state the VM will most likely start from downloaded, unpacked and restored
// into it, so that starting from that state is only a matter of running it.
import type { V86 } from "v86";
import { exactBuffer } from "../core/util/bytes.ts";
import type { GuestSource, StateSource } from "./api.ts";
import { loadBase } from "./base-states.ts";
import { rememberBase } from "./checkpoints.ts";
import { compileWasm, createEmulator } from "./v86-boot.ts";

interface Ready {
  emulator: V86;
  /** The URL of the state restored in the emulator; null when it holds none. */
  restoredUrl: string | null;
}

export interface TakenEmulator {
  emulator: V86;
  /** The state asked for is already restored in it. */
  restored: boolean;
}

export class VmPreparation {
  /** What `prepare` makes (it never rejects: null when nothing came of it). */
  private ready: Promise<Ready | null> | null = null;
  /** The URL of the state `prepare` restores ahead. */
  private likelyUrl: string | null = null;

  /** Compiles the emulator, makes an instance, and restores the likely state into it; once. */
  async prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void> {
    if (this.ready) return;
    this.likelyUrl = likelyState?.kind === "url" ? likelyState.url : null;
    this.ready = makeReady(guest, likelyState);
    await this.ready;
  }

  /** Whether a state from `url` will come restored ahead (as far as `prepare` knows yet). */
  restoresAhead(url: string): boolean {
    return this.ready !== null && this.likelyUrl === url;
  }

  /**
   * The emulator made ahead (with `url`'s state in it when that is what it
   * restored), or else a new one. The caller owns it (and destroys it).
   */
  async takeEmulator(
    guest: GuestSource,
    wasm: Promise<WebAssembly.Module>,
    url: string | null,
  ): Promise<TakenEmulator> {
    const ready = this.ready ? await this.ready : null;
    this.ready = null;
    this.likelyUrl = null;
    if (ready && (ready.restoredUrl === null || ready.restoredUrl === url))
      return { emulator: ready.emulator, restored: ready.restoredUrl !== null };
    // It holds another state: restoring over it could leave some of that behind.
    await ready?.emulator.destroy().catch(() => {});
    return { emulator: await createEmulator(guest, await wasm, {}), restored: false };
  }

  /** Destroys what was made ahead. */
  async dispose(): Promise<void> {
    const ready = this.ready;
    this.ready = null;
    this.likelyUrl = null;
    await (await ready)?.emulator.destroy().catch(() => {});
  }
}

async function makeReady(guest: GuestSource, likely: StateSource | null): Promise<Ready | null> {
  const made = compileWasm(guest.wasmUrl).then((module) => createEmulator(guest, module, {}));
  const raw = likely?.kind === "url" ? loadBase(likely) : null;
  raw?.catch(() => {}); // awaited below
  let emulator: V86;
  try {
    emulator = await made;
  } catch {
    return null; // starting will make one again and say what went wrong
  }
  if (!raw || likely?.kind !== "url") return { emulator, restoredUrl: null };
  let bytes: Uint8Array;
  try {
    bytes = await raw;
  } catch {
    return { emulator, restoredUrl: null }; // starting downloads it again and says why not
  }
  try {
    // restore_state copies out of the bytes and leaves them as they were.
    await emulator.restore_state(exactBuffer(bytes));
  } catch {
    await emulator.destroy().catch(() => {});
    return null;
  }
  // The image's state is what local saves are deltas against: keep it, unpacked.
  rememberBase(likely.sha256, bytes);
  return { emulator, restoredUrl: likely.url };
}
