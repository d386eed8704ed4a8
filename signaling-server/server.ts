// The one small server: static hosting of the built app, and (later) WebSocket
// signaling. A factory returning {ready, address, close}, so `npm start` and the
// tests (port 0) run the same thing.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { staticFiles } from "./static-files.ts";

export interface SignalingServerOptions {
  port?: number;
  host?: string;
  /** The built app to serve (dist/); omit to serve no files. */
  staticDir?: string;
}

export interface SignalingServer {
  /** Resolves once the server listens. */
  ready: Promise<void>;
  /** Where it listens, e.g. http://127.0.0.1:8080 (valid after `ready`). */
  address(): { host: string; port: number; url: string };
  close(): Promise<void>;
}

export function createSignalingServer(options: SignalingServerOptions = {}): SignalingServer {
  const serveStatic = options.staticDir ? staticFiles(options.staticDir) : null;
  const notFound = (res: ServerResponse) => {
    res.statusCode = 404;
    res.setHeader("Content-Type", "text/plain; charset=utf-8");
    res.end("not found\n");
  };
  const http = createServer((req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/healthz") {
      res.setHeader("Content-Type", "application/json");
      res.setHeader("Cache-Control", "no-store");
      res.end(JSON.stringify({ ok: true }));
      return;
    }
    if (serveStatic) serveStatic(req, res, () => notFound(res));
    else notFound(res);
  });
  const host = options.host ?? "127.0.0.1";
  const ready = new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 8080, host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  return {
    ready,
    address() {
      const info = http.address() as AddressInfo | null;
      if (!info) throw new Error("the server is not listening");
      const shown = info.family === "IPv6" ? `[${info.address}]` : info.address;
      return { host: info.address, port: info.port, url: `http://${shown}:${info.port}` };
    },
    close() {
      return new Promise<void>((resolve) => {
        http.closeAllConnections();
        http.close(() => resolve());
      });
    },
  };
}
