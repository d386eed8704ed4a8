// Making v86 emulators: the wasm compiled once per worker and URL, an instance
// made and loaded, and a guest booted from scratch (firmware, kernel, initrd)
// up to its shell prompt.
import { V86 } from "v86";
import { withTimeout } from "../core/util/async.ts";
import { exactBuffer } from "../core/util/bytes.ts";
import type { GuestSource, VmHostEvents } from "./api.ts";
import { fetchBytes } from "./fetch-bytes.ts";
import { GUEST_FILES_OPTIONS } from "./guest-files-options.ts";
import { GUEST_NET_OPTIONS } from "./guest-nic.ts";
import type { VmConsole } from "./vm-console.ts";

const LOAD_TIMEOUT_MS = 30_000;
const COLD_BOOT_TIMEOUT_MS = 180_000;
const BOOT_PROGRESS_MS = 250;

const compiledWasm = new Map<string, Promise<WebAssembly.Module>>();

/** Compiles v86's wasm once per worker and URL. */
export function compileWasm(url: string): Promise<WebAssembly.Module> {
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

/** A loaded (not yet running) emulator for the guest, with the given images. */
export async function createEmulator(
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
    // The guest's network card, with v86's in-browser network behind it (see guest-nic.ts).
    ...GUEST_NET_OPTIONS,
    // The 9p filesystem: for files in and out (the guest mounts it at /files), or
    // the guest's whole root, loaded as the guest opens its files (with /files in it).
    ...(guest.root
      ? { filesystem: { basefs: guest.root.indexUrl, baseurl: guest.root.filesUrl } }
      : GUEST_FILES_OPTIONS),
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

/** Downloads the guest's firmware, kernel and initrd, and makes an emulator that boots them. */
export async function coldBoot(
  guest: GuestSource,
  wasm: WebAssembly.Module,
  events: VmHostEvents,
): Promise<V86> {
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
  return createEmulator(guest, wasm, {
    bios: { buffer: loaded.bios! },
    vga_bios: { buffer: loaded.vgaBios! },
    bzimage: { buffer: loaded.bzimage! },
    initrd: { buffer: loaded.initrd! },
    cmdline: cold.cmdline,
  });
}

/** Waits for a cold-booted guest's shell prompt, reporting boot progress meanwhile. */
export async function waitForShell(
  guest: GuestSource,
  vmConsole: VmConsole,
  events: VmHostEvents,
): Promise<void> {
  const started = performance.now();
  const total = guest.cold.expectedBootMs;
  const label = "Booting Linux";
  const ticker = setInterval(() => {
    const done = Math.min(total * 0.99, performance.now() - started);
    events.progress({ stage: "boot", label, done, total });
  }, BOOT_PROGRESS_MS);
  try {
    await withTimeout(vmConsole.waitFor("# "), COLD_BOOT_TIMEOUT_MS, "booting the guest");
  } finally {
    clearInterval(ticker);
  }
  events.progress({ stage: "boot", label, done: total, total });
}
