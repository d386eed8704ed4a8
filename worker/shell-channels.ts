// The worker side of the remote shell's fast path (core/vm/shell-channel.ts):
// it owns the tab's shell channels, parses what each host sends at the edge,
// and puts the console output in a ring of shared memory before it posts it
// on. A worker's tasks are not held back after a keystroke the way the page's
// are, so the ring has the echo in time for the page's next frame.
import { canShareMemory, OutputRingWriter } from "../core/util/output-ring.ts";
import { parseShellFrame } from "../core/vm/shell-frames.ts";
import type { ShellChannelEvent, ShellChannelRequest } from "./api.ts";

/** Channels one page may hand this worker at once (one per open shell, and a few on their way out). */
const MAX_CHANNELS = 16;

interface Held {
  channel: RTCDataChannel;
  ring: OutputRingWriter | null;
  greeted: boolean;
}

export class ShellChannels {
  private readonly held = new Map<number, Held>();

  constructor(private readonly post: (event: ShellChannelEvent, transfer?: Transferable[]) => void) {}

  handle(request: ShellChannelRequest): void {
    if (request.t === "close") {
      this.end(request.id, "closed by the page");
      return;
    }
    const { id, channel } = request;
    if (this.held.has(id) || this.held.size >= MAX_CHANNELS) {
      channel.close();
      this.post({ t: "closed", id, reason: "too many shell channels" });
      return;
    }
    const held: Held = { channel, ring: canShareMemory() ? new OutputRingWriter() : null, greeted: false };
    this.held.set(id, held);
    channel.binaryType = "arraybuffer";
    channel.addEventListener("message", (event) => this.receive(id, held, event.data));
    channel.addEventListener("close", () => this.end(id, "closed"));
    this.post({ t: "ring", id, ring: held.ring?.buffer ?? null });
  }

  private receive(id: number, held: Held, data: unknown): void {
    if (this.held.get(id) !== held) return;
    const frame = data instanceof ArrayBuffer ? parseShellFrame(new Uint8Array(data)) : null;
    if (!frame || (frame.t === "hello") === held.greeted) {
      this.end(id, frame ? "the host broke the shell protocol" : "not a shell frame");
      return;
    }
    if (frame.t === "hello") {
      held.greeted = true;
      this.post({ t: "hello", id });
      return;
    }
    held.ring?.write(frame.bytes);
    this.post({ t: "output", id, bytes: frame.bytes }, [frame.bytes.buffer]);
  }

  private end(id: number, reason: string): void {
    const held = this.held.get(id);
    if (!held) return;
    this.held.delete(id);
    held.channel.close();
    this.post({ t: "closed", id, reason });
  }
}
