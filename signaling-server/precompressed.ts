// Files kept only brotli-compressed (`X.br`, e.g. the guest's state): a request
// for X gets X.br with `Content-Encoding: br` when the client takes br (every
// browser does), else the file unpacked on the way. The file X itself, where it
// exists, is served as it is by the static handler instead.
import { createReadStream, type Stats, statSync } from "node:fs";
import { resolve, sep } from "node:path";
import { createBrotliDecompress } from "node:zlib";
import type { Handler } from "./static-files.ts";

/** Whether an Accept-Encoding header takes brotli (a "br" or "*" with a q above 0). */
export function acceptsBrotli(header: string | undefined): boolean {
  for (const part of (header ?? "").split(",")) {
    const [token, ...params] = part.trim().toLowerCase().split(";");
    if (token !== "br" && token !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

function fileAt(path: string): Stats | null {
  try {
    const stats = statSync(path);
    return stats.isFile() ? stats : null;
  } catch {
    return null;
  }
}

export function precompressed(dir: string): Handler {
  const root = resolve(dir);
  return (req, res, next) => {
    if (req.method !== "GET" && req.method !== "HEAD") return next();
    let path: string;
    try {
      path = decodeURIComponent(new URL(req.url ?? "/", "http://x").pathname);
    } catch {
      return next();
    }
    const file = resolve(root, `.${path}`);
    if (!file.startsWith(root + sep) || fileAt(file)) return next();
    const stats = fileAt(`${file}.br`);
    if (!stats) return next();
    const etag = `"br-${stats.size.toString(16)}-${Math.floor(stats.mtimeMs).toString(16)}"`;
    res.setHeader("Content-Type", "application/octet-stream");
    res.setHeader("Cache-Control", "no-cache");
    res.setHeader("Vary", "Accept-Encoding");
    res.setHeader("ETag", etag);
    if (req.headers["if-none-match"] === etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const brotli = acceptsBrotli(req.headers["accept-encoding"]);
    if (brotli) {
      res.setHeader("Content-Encoding", "br");
      res.setHeader("Content-Length", stats.size);
    }
    if (req.method === "HEAD") {
      res.end();
      return;
    }
    const stream = createReadStream(`${file}.br`).on("error", () => res.destroy());
    if (brotli) stream.pipe(res);
    else
      stream
        .pipe(createBrotliDecompress())
        .on("error", () => res.destroy())
        .pipe(res);
  };
}
