// A side channel (core/net/side-channel.ts) over one RTCDataChannel: native
// WebRTC in the browser, node-datachannel's polyfill in Node. Nothing touches
// the channel until someone listens or sends, so a browser can still move it to
// a worker (transfer works only on a channel this thread has not used).
import type { SideChannel } from "../core/net/side-channel.ts";

/** Labels of side channels start with this; the link's own channel is named by simple-peer. */
export const SIDE_LABEL_PREFIX = "side:";
/** A side channel holding more than this unsent takes nothing more. */
const MAX_SIDE_BUFFERED_BYTES = 1024 * 1024;

/** What is used of an RTCDataChannel. */
export interface DataChannelLike {
  readonly label: string;
  readonly readyState: string;
  readonly bufferedAmount: number;
  binaryType: string;
  send(data: Uint8Array): void;
  close(): void;
  addEventListener(type: string, listener: (event: { data?: unknown }) => void): void;
}

/** Whether this runtime can move `channel` to another thread (a browser's own RTCDataChannel). */
function movable(channel: DataChannelLike): boolean {
  const native = (globalThis as { RTCDataChannel?: abstract new () => unknown }).RTCDataChannel;
  return typeof native === "function" && channel instanceof native;
}

export function sideChannel(channel: DataChannelLike, label: string): SideChannel {
  let taken = false;
  let wired = false;
  const opened = new Set<() => void>();
  const closed = new Set<() => void>();
  const messages = new Set<(data: Uint8Array) => void>();
  const wire = () => {
    if (wired || taken) return;
    wired = true;
    channel.binaryType = "arraybuffer";
    channel.addEventListener("open", () => {
      for (const h of [...opened]) h();
    });
    channel.addEventListener("close", () => {
      for (const h of [...closed]) h();
      opened.clear();
      closed.clear();
      messages.clear();
    });
    channel.addEventListener("message", (event) => {
      const data = event.data;
      // Text is not what side channels carry: a remote that sends it is told so by a closed channel.
      if (!(data instanceof ArrayBuffer || ArrayBuffer.isView(data))) {
        channel.close();
        return;
      }
      const bytes =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
      for (const h of [...messages]) h(bytes);
    });
  };
  return {
    label,
    take() {
      if (wired || taken || !movable(channel)) return null;
      taken = true;
      return channel;
    },
    send(data) {
      if (taken) return false;
      wire();
      if (channel.readyState !== "open" || channel.bufferedAmount > MAX_SIDE_BUFFERED_BYTES) return false;
      try {
        channel.send(data);
        return true;
      } catch {
        return false;
      }
    },
    isOpen: () => !taken && channel.readyState === "open",
    bufferedBytes: () => (taken ? 0 : channel.bufferedAmount),
    on(event: "open" | "close" | "message", handler: (data: Uint8Array) => void) {
      if (taken) return () => {};
      wire();
      const set = event === "open" ? opened : event === "close" ? closed : messages;
      set.add(handler as () => void);
      return () => set.delete(handler as () => void);
    },
    close() {
      if (taken) return;
      try {
        channel.close();
      } catch {
        // already closed
      }
    },
  } as SideChannel;
}
