// The server sends the app and the emulator compressed when the browser asks
// (brotli first, then gzip), and the guest's files exactly as stored.
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { brotliCompressSync, brotliDecompressSync, gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { acceptsBrotli } from "../../signaling-server/precompressed.ts";
import { createSignalingServer } from "../../signaling-server/server.ts";

const dir = mkdtempSync(join(tmpdir(), "spare-cycles-static-"));
const script = `export const x = ${JSON.stringify("spare ".repeat(5000))};\n`;
const stateGz = Buffer.from([0x1f, 0x8b, 8, 0, ...new Array(2000).fill(7)]);
const rawState = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) % 13));
const stateBr = brotliCompressSync(rawState);
let server: ReturnType<typeof createSignalingServer>;
let base: URL;

beforeAll(async () => {
  mkdirSync(join(dir, "assets"));
  mkdirSync(join(dir, "guest"));
  writeFileSync(join(dir, "assets", "app.js"), script);
  writeFileSync(join(dir, "assets", "v86.wasm"), Buffer.alloc(64 * 1024, 1));
  writeFileSync(join(dir, "guest", "state.bin.gz"), stateGz);
  writeFileSync(join(dir, "guest", "state.bin.br"), stateBr);
  writeFileSync(join(dir, "index.html"), `<!doctype html><title>x</title>${"<p>hello</p>".repeat(200)}`);
  server = createSignalingServer({ port: 0, staticDir: dir });
  await server.ready;
  base = new URL(server.address().url);
});

afterAll(async () => {
  await server?.close();
});

/** The raw answer (not decoded) to a request with `acceptEncoding`. */
function get(
  path: string,
  acceptEncoding?: string,
  method = "GET",
): Promise<{ status: number; headers: Record<string, unknown>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const headers = acceptEncoding === undefined ? {} : { "accept-encoding": acceptEncoding };
    const req = request(new URL(path, base), { method, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (c: Buffer) => chunks.push(c));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

describe("static files", () => {
  it("sends the app's code brotli- or gzip-compressed, as asked, and plain to whoever asks for neither", async () => {
    const br = await get("/assets/app.js", "gzip, deflate, br");
    expect(br.headers["content-encoding"]).toBe("br");
    expect(br.headers.vary).toMatch(/Accept-Encoding/i);
    expect(brotliDecompressSync(br.body).toString()).toBe(script);
    expect(br.body.length).toBeLessThan(script.length / 10);

    const gz = await get("/assets/app.js", "gzip");
    expect(gz.headers["content-encoding"]).toBe("gzip");
    expect(gunzipSync(gz.body).toString()).toBe(script);

    const plain = await get("/assets/app.js");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.toString()).toBe(script);
  });

  it("compresses the emulator's wasm and the page, with the app's security headers kept", async () => {
    const wasm = await get("/assets/v86.wasm", "br");
    expect(wasm.headers["content-encoding"]).toBe("br");
    expect(brotliDecompressSync(wasm.body).length).toBe(64 * 1024);
    const page = await get("/", "br");
    expect(page.headers["content-encoding"]).toBe("br");
    expect(page.headers["content-security-policy"]).toMatch(/default-src 'self'/);
    expect(page.headers["cross-origin-embedder-policy"]).toBe("require-corp");
  });

  it("sends the guest's files as stored, however the browser asks", async () => {
    const state = await get("/guest/state.bin.gz", "gzip, br");
    expect(state.headers["content-encoding"]).toBeUndefined();
    expect(state.body.equals(stateGz)).toBe(true);
  });

  it("sends a file kept only brotli-compressed as br to a browser, and unpacked to a client without br", async () => {
    const br = await get("/guest/state.bin", "gzip, deflate, br, zstd");
    expect(br.status).toBe(200);
    expect(br.headers["content-encoding"]).toBe("br");
    expect(Number(br.headers["content-length"])).toBe(stateBr.length);
    expect(br.body.equals(stateBr)).toBe(true);
    expect(brotliDecompressSync(br.body).equals(rawState)).toBe(true);

    const plain = await get("/guest/state.bin", "gzip");
    expect(plain.headers["content-encoding"]).toBeUndefined();
    expect(plain.body.equals(rawState)).toBe(true);

    const head = await get("/guest/state.bin", "br", "HEAD");
    expect(head.status).toBe(200);
    expect(head.body.length).toBe(0);
    // Only files under the served folder, and the .br file is not a name of its own to ask for twice.
    expect((await get("/guest/../../etc/passwd", "br")).status).toBe(404);
    expect((await get("/guest/missing.bin", "br")).status).toBe(404);
  });

  it("reads Accept-Encoding as browsers and proxies write it", () => {
    expect(acceptsBrotli("gzip, deflate, br")).toBe(true);
    expect(acceptsBrotli("br;q=0.5")).toBe(true);
    expect(acceptsBrotli("*")).toBe(true);
    expect(acceptsBrotli("br;q=0, gzip")).toBe(false);
    expect(acceptsBrotli("gzip, brotli")).toBe(false);
    expect(acceptsBrotli(undefined)).toBe(false);
  });
});
