// One VM, hosted inside a dedicated Web Worker: loads the emulator and the
// guest, restores a saved state (or boots from scratch when no state will load),
// streams the serial console, saves snapshots, and keeps the emulator within its
// CPU budget through the governor.
import * as Comlink from "comlink";
import { V86 } from "v86";
import { Governor } from "../core/cpu/governor.ts";
import { seal, unseal } from "../core/crypto/vm-crypto.ts";
import { packCheckpoint, unpackCheckpoint } from "../core/guest/checkpoint-format.ts";
import { ConsoleTail } from "../core/guest/guest-console.ts";
import { applyDelta, type BaseIndex, encodeDelta, indexBase } from "../core/guest/state-delta.ts";
import { delay, withTimeout } from "../core/util/async.ts";
import { exactBuffer, gunzip, gzip, isGzip } from "../core/util/bytes.ts";
import { systemClock } from "../core/util/clock.ts";
import { errorMessage } from "../core/util/errors.ts";
import { replayableTranscript } from "../core/util/format.ts";
import type {
  BaseSource,
  GuestSource,
  SealedCheckpoint,
  StartRequest,
  StartResult,
  StateSource,
  VmHostApi,
  VmHostEvents,
  VmPhase,
  VmSnapshot,
  VmStats,
} from "./api.ts";
import { createBusyMeter } from "./busy-meter.ts";
import { fetchBytes, fetchGunzipped } from "./fetch-bytes.ts";
import { SerialBatcher } from "./serial-batcher.ts";

const TRANSCRIPT_CHARS = 64 * 1024;
const LOAD_TIMEOUT_MS = 30_000;
const COLD_BOOT_TIMEOUT_MS = 180_000;
const COUNTER_SAMPLE_MS = 1000;

const compiledWasm = new Map<string, Promise<WebAssembly.Module>>();
const baseIndexes = new Map<string, Promise<BaseIndex>>();

/** Compiles v86's wasm once per worker and URL. */
function compileWasm(url: string): Promise<WebAssembly.Module> {
  let module = compiledWasm.get(url);
  if (!module) {
    module = WebAssembly.compileStreaming(fetch(url)).catch((err) => {
      compiledWasm.delete(url);
      throw new Error(`could not load the emulator (${url}): ${String(err)}`);
    });
    compiledWasm.set(url, module);
  }
  return module;
}

export class VmHost implements VmHostApi {
  private phase: VmPhase = "new";
  private emulator: V86 | null = null;
  private governor: Governor | null = null;
  private batcher: SerialBatcher | null = null;
  private readonly tail = new ConsoleTail(TRANSCRIPT_CHARS);
  private startedAtMs = 0;
  private instructions = 0;
  private lastCounter = 0;
  private counterTimer: ReturnType<typeof setInterval> | null = null;
  /** An emulator made ahead of time by `prepare`, waiting for its state. */
  private spareEmulator: Promise<V86> | null = null;
  /** A state downloaded ahead of time by `prepare` (still compressed), by URL. */
  private prefetched: { url: string; bytes: Promise<Uint8Array> } | null = null;

  /**
   * Gets ready to start quickly: compiles the emulator, makes an instance, and
   * downloads (without unpacking) the state the VM will most likely start from.
   */
  async prepare(guest: GuestSource, likelyState: StateSource | null): Promise<void> {
    if (this.phase !== "new" || this.spareEmulator) return;
    const made = compileWasm(guest.wasmUrl).then((module) => this.createEmulator(guest, module, {}));
    made.catch(() => {});
    this.spareEmulator = made;
    if (likelyState?.kind === "url") {
      const bytes = fetchBytes(likelyState.url, { expectedSha256: likelyState.sha256 });
      bytes.catch(() => {});
      this.prefetched = { url: likelyState.url, bytes };
    }
    await Promise.allSettled([made, this.prefetched?.bytes]);
  }

  async start(request: StartRequest, events: VmHostEvents): Promise<StartResult> {
    if (this.phase !== "new") throw new Error(`this worker already hosts a VM (${this.phase})`);
    this.phase = "loading";
    const t0 = performance.now();
    const timingsMs: Record<string, number> = {};
    try {
      const wasm = compileWasm(request.guest.wasmUrl);
      const problems: string[] = [];
      let emulator: V86 | null = null;
      let restoredIndex: number | null = null;
      for (const [index, source] of request.states.entries()) {
        try {
          const restored = await this.restore(request.guest, wasm, source, events, timingsMs);
          emulator = restored.emulator;
          restoredIndex = index;
          // The terminal shows what the console showed when the state was saved.
          const transcript = replayableTranscript(restored.transcript ?? source.transcript);
          this.tail.push(transcript);
          events.output(new TextEncoder().encode(transcript));
          break;
        } catch (err) {
          problems.push(`${source.label} would not load: ${errorMessage(err)}`);
        }
      }
      if (!emulator && request.coldBoot === false)
        throw new Error(problems.join("; ") || "no state to start from");
      if (!emulator) {
        try {
          emulator = await this.coldBoot(request.guest, await wasm, events);
        } catch (err) {
          // Say why every way of starting failed, not just the last one.
          const why = errorMessage(err);
          throw new Error([...problems, `booting from scratch failed: ${why}`].join("; "));
        }
      }
      this.attach(emulator, events, request.budgetPct);
      if (restoredIndex === null) await this.waitForShell(request.guest, events);
      // Serial input sent in the same tick as the restore is overwritten by it.
      else await delay(0);
      this.phase = "running";
      return {
        mode: restoredIndex === null ? "cold-boot" : "restored",
        restoredIndex,
        problems,
        loadMs: Math.round(performance.now() - t0),
        timingsMs,
      };
    } catch (err) {
      this.phase = "failed";
      await this.teardown();
      throw err;
    }
  }

  /** Loads a state and restores it; the emulator is made while the state downloads. */
  private async restore(
    guest: GuestSource,
    wasm: Promise<WebAssembly.Module>,
    source: StateSource,
    events: VmHostEvents,
    timingsMs: Record<string, number>,
  ): Promise<{ emulator: V86; transcript: string | null }> {
    const t0 = performance.now();
    const made = this.spareEmulator ?? wasm.then((module) => this.createEmulator(guest, module, {}));
    this.spareEmulator = null;
    made.catch(() => {}); // awaited below; a failure here is reported there
    let bytes: Uint8Array;
    let transcript: string | null;
    try {
      ({ raw: bytes, transcript } = await this.loadState(source, events));
      timingsMs.stateMs = Math.round(performance.now() - t0);
    } catch (err) {
      await (await made.catch(() => null))?.destroy().catch(() => {});
      throw err;
    }
    const emulator = await made;
    timingsMs.emulatorMs = Math.round(performance.now() - t0);
    events.progress({ stage: "restore", label: "Restoring the VM", done: 0, total: 1 });
    const t1 = performance.now();
    try {
      await emulator.restore_state(exactBuffer(bytes));
    } catch (err) {
      await emulator.destroy().catch(() => {});
      throw err;
    }
    timingsMs.restoreMs = Math.round(performance.now() - t1);
    events.progress({ stage: "restore", label: "Restoring the VM", done: 1, total: 1 });
    return { emulator, transcript };
  }

  /** The state's raw bytes: downloaded and unpacked as they arrive, unpacked from memory, or unsealed. */
  private async loadState(
    source: StateSource,
    events: VmHostEvents,
  ): Promise<{ raw: Uint8Array; transcript: string | null }> {
    if (source.kind === "sealed") {
      events.progress({ stage: "decompress", label: "Opening the checkpoint", done: 0, total: 1 });
      const packed = await gunzip(await unseal(source.key, new Uint8Array(source.bytes), source.context));
      const { transcript, delta } = unpackCheckpoint(packed);
      return { raw: applyDelta(delta, await this.baseIndex(source.base)), transcript };
    }
    const prefetched = this.prefetched;
    if (source.kind === "url" && prefetched?.url === source.url) {
      this.prefetched = null;
      const bytes = await prefetched.bytes.catch(() => null);
      if (bytes) {
        events.progress({ stage: "decompress", label: "Unpacking the VM state", done: 0, total: 1 });
        return { raw: await gunzip(bytes), transcript: null };
      }
    }
    if (source.kind === "url") {
      const label = "Downloading the VM state";
      const raw = await fetchGunzipped(source.url, {
        expectedSha256: source.sha256,
        expectedBytes: source.bytes,
        onProgress: (done, total) => events.progress({ stage: "download", label, done, total }),
      });
      return { raw, transcript: null };
    }
    const bytes = new Uint8Array(source.bytes);
    if (!isGzip(bytes)) return { raw: bytes, transcript: null };
    events.progress({ stage: "decompress", label: "Unpacking the VM state", done: 0, total: 1 });
    return { raw: await gunzip(bytes), transcript: null };
  }

  /** The image state checkpoints are deltas against, indexed once per worker. */
  private baseIndex(base: BaseSource): Promise<BaseIndex> {
    let index = baseIndexes.get(base.sha256);
    if (!index) {
      index = fetchGunzipped(base.url, { expectedSha256: base.sha256, expectedBytes: base.bytes }).then(
        indexBase,
      );
      index.catch(() => baseIndexes.delete(base.sha256));
      baseIndexes.set(base.sha256, index);
    }
    return index;
  }

  async sealedCheckpoint(key: CryptoKey, context: string, base: BaseSource): Promise<SealedCheckpoint> {
    const emulator = this.emulator;
    if (!emulator) throw new Error("no VM is running");
    this.batcher?.flush();
    const transcript = this.tail.recent();
    const index = await this.baseIndex(base);
    const t0 = performance.now();
    const raw = new Uint8Array(await emulator.save_state());
    const t1 = performance.now();
    const delta = encodeDelta(raw, index);
    const sealed = await seal(key, await gzip(packCheckpoint(transcript, delta)), context);
    const t2 = performance.now();
    const result = {
      sealed: exactBuffer(sealed),
      rawBytes: raw.length,
      deltaBytes: delta.length,
      saveMs: Math.round(t1 - t0),
      packMs: Math.round(t2 - t1),
    };
    return Comlink.transfer(result, [result.sealed]);
  }

  transcript(): string {
    this.batcher?.flush();
    return this.tail.recent();
  }

  private async coldBoot(guest: GuestSource, wasm: WebAssembly.Module, events: VmHostEvents): Promise<V86> {
    const { cold } = guest;
    const files = [
      ["bios", cold.biosUrl, cold.sha256.bios],
      ["vgaBios", cold.vgaBiosUrl, cold.sha256.vgaBios],
      ["bzimage", cold.bzimageUrl, cold.sha256.bzimage],
      ["initrd", cold.initrdUrl, cold.sha256.initrd],
    ] as const;
    const loaded: Record<string, ArrayBuffer> = {};
    for (const [name, url, sha256] of files) {
      const label = `Downloading ${name === "bzimage" ? "the kernel" : name === "initrd" ? "the initrd" : "the firmware"}`;
      const bytes = await fetchBytes(url, {
        expectedSha256: sha256,
        onProgress: (done, total) => events.progress({ stage: "download", label, done, total }),
      });
      loaded[name] = exactBuffer(bytes);
    }
    return this.createEmulator(guest, wasm, {
      bios: { buffer: loaded.bios! },
      vga_bios: { buffer: loaded.vgaBios! },
      bzimage: { buffer: loaded.bzimage! },
      initrd: { buffer: loaded.initrd! },
      cmdline: cold.cmdline,
    });
  }

  private async createEmulator(
    guest: GuestSource,
    wasm: WebAssembly.Module,
    images: Partial<ConstructorParameters<typeof V86>[0]>,
  ): Promise<V86> {
    const emulator = new V86({
      wasm_fn: async (imports) => (await WebAssembly.instantiate(wasm, imports)).exports,
      memory_size: guest.memorySizeBytes,
      autostart: false,
      disable_keyboard: true,
      disable_mouse: true,
      disable_speaker: true,
      ...images,
    });
    const loaded = new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
    try {
      await withTimeout(loaded, LOAD_TIMEOUT_MS, "starting the emulator");
    } catch (err) {
      await emulator.destroy().catch(() => {});
      throw err;
    }
    return emulator;
  }

  private attach(emulator: V86, events: VmHostEvents, budgetPct: number): void {
    this.emulator = emulator;
    this.batcher = new SerialBatcher((bytes) => {
      this.tail.push(bytes);
      events.output(Comlink.transfer(bytes, [bytes.buffer]));
    });
    const batcher = this.batcher;
    emulator.add_listener("serial0-output-byte", (byte: number) => batcher.push(byte));
    const meter = createBusyMeter(emulator);
    this.governor = new Governor(
      {
        run: () => {
          meter.setRunning(true);
          void emulator.run();
        },
        stop: async () => {
          await emulator.stop();
          meter.setRunning(false);
        },
        busyMs: () => meter.busyMs(),
      },
      systemClock,
      { budgetPct },
    );
    this.lastCounter = emulator.get_instruction_counter() >>> 0;
    this.counterTimer = setInterval(() => this.sampleCounter(), COUNTER_SAMPLE_MS);
    this.startedAtMs = performance.now();
    this.governor.start();
  }

  private async waitForShell(guest: GuestSource, events: VmHostEvents): Promise<void> {
    const started = performance.now();
    const total = guest.cold.expectedBootMs;
    const label = "Booting Linux";
    const ticker = setInterval(() => {
      const done = Math.min(total * 0.99, performance.now() - started);
      events.progress({ stage: "boot", label, done, total });
    }, 250);
    try {
      await withTimeout(this.tail.waitFor("# "), COLD_BOOT_TIMEOUT_MS, "booting the guest");
    } finally {
      clearInterval(ticker);
    }
    events.progress({ stage: "boot", label, done: total, total });
  }

  /** Adds up the 32-bit instruction counter's deltas (it wraps every few seconds). */
  private sampleCounter(): void {
    if (!this.emulator) return;
    const now = this.emulator.get_instruction_counter() >>> 0;
    this.instructions += (now - this.lastCounter + 2 ** 32) % 2 ** 32;
    this.lastCounter = now;
  }

  input(bytes: Uint8Array): void {
    if (this.phase !== "running" && this.phase !== "paused") return;
    this.emulator?.serial_send_bytes(0, bytes);
  }

  async snapshot(): Promise<VmSnapshot> {
    const emulator = this.emulator;
    if (!emulator) throw new Error("no VM is running");
    this.batcher?.flush();
    const transcript = this.tail.recent();
    const t0 = performance.now();
    const raw = new Uint8Array(await emulator.save_state());
    const t1 = performance.now();
    const state = await gzip(raw);
    const t2 = performance.now();
    return {
      state: exactBuffer(state),
      transcript,
      rawBytes: raw.length,
      saveMs: Math.round(t1 - t0),
      compressMs: Math.round(t2 - t1),
    };
  }

  async pause(): Promise<void> {
    if (this.phase !== "running") return;
    this.phase = "paused";
    await this.governor?.pause();
  }

  async resume(): Promise<void> {
    if (this.phase !== "paused") return;
    this.phase = "running";
    this.governor?.resume();
  }

  setBudget(pct: number): void {
    this.governor?.setBudget(pct);
  }

  stats(): VmStats {
    this.sampleCounter();
    const usage = this.governor?.usage();
    return {
      phase: this.phase,
      budgetPct: usage?.budgetPct ?? 0,
      usedPct: usage?.usedPct ?? 0,
      busyMs: usage?.busyMs ?? 0,
      wallMs: usage?.wallMs ?? 0,
      instructions: this.instructions,
      uptimeMs: this.startedAtMs ? performance.now() - this.startedAtMs : 0,
    };
  }

  async destroy(): Promise<void> {
    this.phase = "destroyed";
    await this.teardown();
  }

  private async teardown(): Promise<void> {
    const spare = this.spareEmulator;
    this.spareEmulator = null;
    this.prefetched = null;
    await (await spare?.catch(() => null))?.destroy().catch(() => {});
    if (this.counterTimer !== null) clearInterval(this.counterTimer);
    this.counterTimer = null;
    await this.governor?.stop();
    this.governor = null;
    this.batcher?.dispose();
    this.batcher = null;
    await this.emulator?.destroy().catch(() => {});
    this.emulator = null;
  }
}
