// The host's side of the remote shell's fast path, inside the VM's worker: the
// shell channels of the tabs the host granted this VM's console
// (core/vm/shell-channel.ts), handed here by the page as they arrived, so the
// console's output leaves from the thread that makes it and never waits for
// the host page's main thread. The page decides who gets a channel; this only
// sends: a greeting, then every byte of the console from the position the page
// had reached when it handed the channel over (what the page sent the tab on
// the mesh before that, the tab has), then the output as it comes.
import { encodeShellOutput, SHELL_HELLO } from "../core/vm/shell-frames.ts";

/** Output kept to serve a channel from where the page left off (bytes the page had not seen yet). */
const HISTORY_BYTES = 64 * 1024;
/** Channels one VM serves at once (one per granted tab). */
const MAX_OUTLETS = 16;
/** A channel holding more than this unsent is given up (the page goes back to the mesh). */
const MAX_BUFFERED_BYTES = 1024 * 1024;

interface Outlet {
  channel: RTCDataChannel;
  /** The stream position the tab has up to (from the mesh); null once greeted and live. */
  from: number | null;
  closed: () => void;
}

export class ShellOutlets {
  private readonly outlets = new Map<number, Outlet>();
  /** The console's recent output, and the stream position where it starts. */
  private history: Uint8Array[] = [];
  private historyStart = 0;
  private total = 0;

  /** Every byte of the console, in order (the same bytes the page is sent). */
  write(bytes: Uint8Array): void {
    // A copy: the caller then transfers `bytes` to the page, which empties it here.
    this.history.push(bytes.slice());
    this.total += bytes.length;
    let kept = this.total - this.historyStart;
    while (kept > HISTORY_BYTES && this.history.length > 1) {
      const dropped = this.history.shift()!;
      this.historyStart += dropped.length;
      kept -= dropped.length;
    }
    for (const [id, outlet] of this.outlets) if (outlet.from === null) this.send(id, outlet, bytes);
  }

  /** A tab's channel, which the tab has the console's output of up to `from` (a stream position). */
  add(id: number, channel: RTCDataChannel, from: number, closed: () => void): void {
    if (
      this.outlets.has(id) ||
      this.outlets.size >= MAX_OUTLETS ||
      from > this.total ||
      from < this.historyStart
    ) {
      channel.close();
      closed();
      return;
    }
    const outlet: Outlet = { channel, from, closed };
    this.outlets.set(id, outlet);
    channel.binaryType = "arraybuffer";
    // Tabs say nothing on it: one that does is not following the protocol.
    channel.addEventListener("message", () => this.end(id));
    channel.addEventListener("close", () => this.end(id));
    channel.addEventListener("open", () => this.greet(id, outlet));
    if (channel.readyState === "open") this.greet(id, outlet);
  }

  close(id: number): void {
    this.end(id);
  }

  dispose(): void {
    for (const id of [...this.outlets.keys()]) this.end(id);
  }

  private greet(id: number, outlet: Outlet): void {
    if (outlet.from === null || this.outlets.get(id) !== outlet) return;
    if (outlet.from < this.historyStart) {
      this.end(id); // fell out of the history meanwhile
      return;
    }
    const missed = this.since(outlet.from);
    outlet.from = null;
    if (!this.sendFrame(id, outlet, SHELL_HELLO)) return;
    if (missed.length > 0) this.send(id, outlet, missed);
  }

  /** The output from stream position `from` to now. */
  private since(from: number): Uint8Array {
    const out = new Uint8Array(this.total - from);
    let at = this.historyStart;
    let filled = 0;
    for (const chunk of this.history) {
      const skip = Math.max(0, from - at);
      if (skip < chunk.length) {
        out.set(chunk.subarray(skip), filled);
        filled += chunk.length - skip;
      }
      at += chunk.length;
    }
    return out;
  }

  private send(id: number, outlet: Outlet, bytes: Uint8Array): void {
    for (const frame of encodeShellOutput(bytes)) if (!this.sendFrame(id, outlet, frame)) return;
  }

  private sendFrame(id: number, outlet: Outlet, frame: Uint8Array): boolean {
    try {
      if (outlet.channel.readyState !== "open" || outlet.channel.bufferedAmount > MAX_BUFFERED_BYTES)
        throw new Error("it takes no more");
      outlet.channel.send(frame as Uint8Array<ArrayBuffer>);
      return true;
    } catch {
      this.end(id);
      return false;
    }
  }

  private end(id: number): void {
    const outlet = this.outlets.get(id);
    if (!outlet) return;
    this.outlets.delete(id);
    outlet.channel.close();
    outlet.closed();
  }
}
