// v86 running directly in Node (no worker, no browser): used to build the guest
// state and as the baseline the benchmarks compare the browser against.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { V86 } from "v86";
import { ConsoleTail, markCommand } from "../../core/guest/guest-console.ts";
import { IMAGE_GUEST_MAC } from "../../core/guest/guest-mac.ts";
import { withTimeout } from "../../core/util/async.ts";
import { GUEST_FILES_OPTIONS } from "../../worker/guest-files-options.ts";
import { GUEST_NET_OPTIONS, GuestNic } from "../../worker/guest-nic.ts";

const require = createRequire(import.meta.url);
export const v86WasmPath = require.resolve("v86/build/v86.wasm");
export const v86Version: string = JSON.parse(
  readFileSync(require.resolve("v86/package.json"), "utf8"),
).version.split("+")[0];

export interface ColdBootImages {
  bios: Uint8Array;
  vgaBios: Uint8Array;
  bzimage: Uint8Array;
  initrd: Uint8Array;
  cmdline: string;
}

export interface NodeVmOptions {
  memorySizeBytes: number;
  /** Boot from firmware and kernel. */
  cold?: ColdBootImages;
  /** Or restore this saved state (uncompressed). */
  state?: ArrayBuffer;
  /** The VM's MAC on the wire (default: the image's own). */
  mac?: string;
  /** A 9p filesystem loaded on demand (the Debian guest's root): v86's index and its files' folder. */
  basefs?: { index: string; filesDir: string };
}

const toBuffer = (u: Uint8Array): ArrayBuffer =>
  u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength) as ArrayBuffer;

export class NodeVm {
  readonly tail = new ConsoleTail();
  private nonce = 1;
  private constructor(
    readonly emulator: V86,
    /** The guest's network card: outbound off, TCP connections into the guest. */
    readonly nic: GuestNic,
  ) {
    emulator.add_listener("serial0-output-byte", (byte: number) => this.tail.push(new Uint8Array([byte])));
  }

  static async start(options: NodeVmOptions): Promise<NodeVm> {
    const { cold, state } = options;
    const emulator = new V86({
      wasm_path: v86WasmPath,
      memory_size: options.memorySizeBytes,
      autostart: false,
      ...GUEST_NET_OPTIONS,
      ...GUEST_FILES_OPTIONS,
      ...(options.basefs && {
        filesystem: { basefs: options.basefs.index, baseurl: options.basefs.filesDir },
      }),
      ...(cold && {
        bios: { buffer: toBuffer(cold.bios) },
        vga_bios: { buffer: toBuffer(cold.vgaBios) },
        bzimage: { buffer: toBuffer(cold.bzimage) },
        initrd: { buffer: toBuffer(cold.initrd) },
        cmdline: cold.cmdline,
      }),
    });
    await new Promise<void>((resolve) => emulator.add_listener("emulator-loaded", () => resolve()));
    if (state) await emulator.restore_state(state);
    const vm = new NodeVm(emulator, GuestNic.attach(emulator, options.mac ?? IMAGE_GUEST_MAC));
    await emulator.run();
    return vm;
  }

  send(text: string): void {
    this.emulator.serial0_send(text);
  }

  /** Types `command` and resolves with its output once the shell has run it. */
  async run(command: string, timeoutMs = 30_000): Promise<string> {
    const from = this.tail.end;
    const marked = markCommand(command, this.nonce++);
    this.send(marked.line);
    const at = await withTimeout(this.tail.waitFor(marked.done, from), timeoutMs, command);
    return this.tail.since(from).slice(0, at - from);
  }

  instructions(): number {
    return this.emulator.get_instruction_counter();
  }

  async save(): Promise<ArrayBuffer> {
    return this.nic.saveState();
  }

  async destroy(): Promise<void> {
    this.nic.dispose();
    await this.emulator.stop();
    await this.emulator.destroy();
  }
}
