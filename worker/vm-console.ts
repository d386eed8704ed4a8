// The VM's serial console inside the worker: output batched to the page and
// kept as a bounded transcript (for checkpoints and for waiting on a prompt).
import * as Comlink from "comlink";
import type { V86 } from "v86";
import { ConsoleTail } from "../core/guest/guest-console.ts";
import type { OutputRingWriter } from "../core/util/output-ring.ts";
import type { VmHostEvents } from "./api.ts";
import { SerialBatcher } from "./serial-batcher.ts";

const TRANSCRIPT_CHARS = 64 * 1024;

export class VmConsole {
  private readonly tail = new ConsoleTail(TRANSCRIPT_CHARS);
  /** The attached emulator's output: its batcher, and how to stop listening. */
  private attached: { batcher: SerialBatcher; detach: () => void } | null = null;

  /** `ring`, when there is one, gets a copy of every byte the page is sent, in the same order. */
  constructor(private readonly ring: Pick<OutputRingWriter, "write"> | null = null) {}

  /** Takes a restored state's transcript as the console's past, and shows it on the page. */
  replay(transcript: string, events: VmHostEvents): void {
    this.tail.push(transcript);
    const bytes = new TextEncoder().encode(transcript);
    this.ring?.write(bytes);
    events.output(bytes);
  }

  /** Streams the emulator's serial output to the page (until `dispose`). */
  attach(emulator: V86, events: VmHostEvents): void {
    const batcher = new SerialBatcher((bytes) => {
      this.tail.push(bytes);
      this.ring?.write(bytes);
      events.output(Comlink.transfer(bytes, [bytes.buffer]));
    });
    const onByte = (byte: number) => batcher.push(byte);
    emulator.add_listener("serial0-output-byte", onByte);
    this.attached = { batcher, detach: () => emulator.remove_listener("serial0-output-byte", onByte) };
  }

  /** The recent output, including bytes still waiting in the batcher. */
  recent(): string {
    this.attached?.batcher.flush();
    return this.tail.recent();
  }

  waitFor(text: string): Promise<number> {
    return this.tail.waitFor(text);
  }

  /** Hands on what is waiting and stops listening to the emulator. */
  dispose(): void {
    this.attached?.batcher.dispose();
    this.attached?.detach();
    this.attached = null;
  }
}
