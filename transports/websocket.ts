// Signaling sockets: the browser's WebSocket, or `ws` in Node, behind core's SocketFactory.
import type { SocketFactory } from "../core/net/signaling-client.ts";

/** What both the browser's WebSocket and `ws` offer. */
interface StandardSocket {
  send(data: string): void;
  close(code?: number, reason?: string): void;
  // biome-ignore lint/suspicious/noExplicitAny: each implementation has its own event types
  addEventListener(type: "open" | "message" | "close" | "error", listener: (event: any) => void): void;
}

export function standardSockets(WebSocketImpl: new (url: string) => StandardSocket): SocketFactory {
  return (url, handlers) => {
    const socket = new WebSocketImpl(url);
    socket.addEventListener("open", () => handlers.open());
    socket.addEventListener("message", (ev: { data: unknown }) => {
      if (typeof ev.data === "string") handlers.message(ev.data);
    });
    socket.addEventListener("close", (ev: { code: number; reason: string }) =>
      handlers.close(ev.code, ev.reason),
    );
    socket.addEventListener("error", () => {}); // a close event follows
    return {
      send: (text) => socket.send(text),
      close: (code, reason) => socket.close(code, reason),
    };
  };
}
