// Serves the built app (dist/) with the headers the app needs: a Content
// Security Policy that lets v86 compile wasm and start its blob: helper worker,
// no caching of the service worker and HTML, long caching of hashed assets, and
// the app's code and the emulator compressed on the way (a first visit from a
// phone: the wasm is 2.1 MB as it is, about 0.4 MB compressed).
import type { IncomingMessage, ServerResponse } from "node:http";
import compression from "compression";
import serveStatic from "serve-static";
import { precompressed } from "./precompressed.ts";

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // v86 compiles guest code to wasm at run time.
  "script-src 'self' 'wasm-unsafe-eval'",
  // v86's tick loop yields through a worker it creates from a blob: URL.
  "worker-src 'self' blob:",
  "connect-src 'self' ws: wss:",
  "img-src 'self' data: blob:",
  // xterm.js positions its rows with inline styles.
  "style-src 'self' 'unsafe-inline'",
  "manifest-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'none'",
].join("; ");

export type Handler = (req: IncomingMessage, res: ServerResponse, next: () => void) => void;

/**
 * What is sent compressed (br or gzip, as the browser asks): the app's code,
 * styles, pages and the emulator's wasm. Not the guest's files: they are gzip
 * already (or, like the kernel, compressed inside), and the app checks their
 * bytes as stored.
 */
const COMPRESSED_PATH = /(\/|\.(html|js|mjs|css|wasm|json|webmanifest|svg|txt|md))$/;

export function isCompressedPath(url: string): boolean {
  return COMPRESSED_PATH.test(url.split("?")[0] ?? "");
}

export function staticFiles(dir: string): Handler {
  // serve-static sends .gz files as they are (application/gzip), with no
  // Content-Encoding: the app verifies and unpacks the guest's gzip files itself.
  const serve = serveStatic(dir, {
    etag: true,
    index: ["index.html"],
    redirect: false,
    fallthrough: true,
    setHeaders(res, path) {
      if (path.includes("/assets/")) {
        res.setHeader("Cache-Control", "public, max-age=31536000, immutable");
      } else {
        // The service worker, the HTML and the guest files (versioned by query) are revalidated.
        res.setHeader("Cache-Control", "no-cache");
      }
    },
  });
  const compress = compression({
    threshold: 1024,
    filter: (req) => isCompressedPath(req.url ?? ""),
  }) as unknown as Handler;
  const brotliFiles = precompressed(dir);
  return (req, res, next) => {
    res.setHeader("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Referrer-Policy", "no-referrer");
    // Cross-origin isolation: the page may share memory with its VM worker (the shell's echo).
    res.setHeader("Cross-Origin-Opener-Policy", "same-origin");
    res.setHeader("Cross-Origin-Embedder-Policy", "require-corp");
    brotliFiles(req, res, () => compress(req, res, () => serve(req, res, next)));
  };
}
