// Work done ahead of `start` by `prepare`: an emulator made and loaded, and the
// state the VM will most likely start from downloaded (still compressed).
import type { V86 } from "v86";
import type { GuestSource, StateSource } from "./api.ts";
import { fetchBytes } from "./fetch-bytes.ts";
import { compileWasm, createEmulator } from "./v86-boot.ts";

export class VmPreparation {
  /** An emulator made ahead of time, waiting for its state. */
  private spareEmulator: Promise<V86> | null = null;
  /** A state downloaded ahead of time (still compressed), by URL. */
  private prefetched: { url: string; bytes: Promise<Uint8Array> } | null = null;

  /** Compiles the emulator, makes an instance, and downloads the likely state; once. */
  async prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void> {
    if (this.spareEmulator) return;
    const made = compileWasm(guest.wasmUrl).then((module) => createEmulator(guest, module, {}));
    made.catch(() => {});
    this.spareEmulator = made;
    if (likelyState?.kind === "url") {
      const bytes = fetchBytes(likelyState.url, { expectedSha256: likelyState.sha256 });
      bytes.catch(() => {});
      this.prefetched = { url: likelyState.url, bytes };
    }
    await Promise.allSettled([made, this.prefetched?.bytes]);
  }

  /** The spare emulator, or else a new one; the caller owns it (and destroys it). */
  takeEmulator(guest: GuestSource, wasm: Promise<WebAssembly.Module>): Promise<V86> {
    const made = this.spareEmulator ?? wasm.then((module) => createEmulator(guest, module, {}));
    this.spareEmulator = null;
    return made;
  }

  /** The compressed bytes downloaded ahead for this URL, if any (once). */
  takePrefetched(url: string): Promise<Uint8Array> | null {
    const prefetched = this.prefetched;
    if (prefetched?.url !== url) return null;
    this.prefetched = null;
    return prefetched.bytes;
  }

  /** Destroys the spare emulator and forgets the download. */
  async dispose(): Promise<void> {
    const spare = this.spareEmulator;
    this.spareEmulator = null;
    this.prefetched = null;
    await (await spare?.catch(() => null))?.destroy().catch(() => {});
  }
}
