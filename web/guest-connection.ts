// A TCP connection into the guest as core's web host wants it (push: onData,
// onClose), over the VM host's pull API (worker/api.ts GuestTcpApi: tcpOpen,
// tcpRead, tcpWrite, tcpClose), in a worker or directly in Node.
import type { GuestConnection } from "../core/vm/engine.ts";

/** The VM host's TCP calls, answered now (Node) or later (a worker over comlink). */
export interface GuestTcp {
  tcpOpen(port: number, first?: Uint8Array): number | Promise<number>;
  tcpWrite(id: number, bytes: Uint8Array): number | Promise<number>;
  tcpRead(id: number, maxBytes?: number): Promise<Uint8Array | null>;
  tcpClose(id: number): unknown;
}

/** Opens a connection to `port`, with `first` written as it opens (in the same call). */
export async function openGuestConnection(
  tcp: GuestTcp,
  port: number,
  first?: Uint8Array,
): Promise<GuestConnection> {
  const id = await tcp.tcpOpen(port, first);
  const onData: ((bytes: Uint8Array) => void)[] = [];
  const onClose: (() => void)[] = [];
  let closed = false;
  let pumping = false;
  const ended = () => {
    if (closed) return;
    closed = true;
    for (const h of onClose) h();
  };
  // Reads as the guest sends, one at a time, until it closes its side (null) or this side closes.
  const pump = async () => {
    try {
      for (;;) {
        const bytes = await tcp.tcpRead(id);
        if (bytes === null || closed) break;
        for (const h of onData) h(bytes);
      }
    } catch {
      // reset, or over a limit: the connection is over
    }
    ended();
    void tcp.tcpClose(id);
  };
  return {
    onData(handler) {
      onData.push(handler);
      if (!pumping) {
        pumping = true;
        void pump();
      }
    },
    onClose(handler) {
      onClose.push(handler);
    },
    write(bytes) {
      void Promise.resolve()
        .then(() => tcp.tcpWrite(id, bytes))
        .catch(() => {
          ended();
          void tcp.tcpClose(id);
        });
    },
    close() {
      if (closed) return;
      closed = true;
      void tcp.tcpClose(id);
    },
  };
}
