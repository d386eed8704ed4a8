// The image's state also stored brotli-compressed (quality 11, a 16 MiB
// window): about 8 MB where gzip takes 10.5. The server sends it with
// `Content-Encoding: br`, so a browser unpacks it natively as it arrives and
// the app checks the SHA-256 of the raw state (manifest files.state.transport).
// The gzip file stays: Node readers (the headless contributor, the tests, the
// benchmarks) and servers that cannot send br use it.
//
// Run by save-state.ts after each image build, or alone on an image:
//   tsx scripts/guest/brotli-state.ts public/guest
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { brotliCompressSync, brotliDecompressSync, constants, gunzipSync } from "node:zlib";

const sha256 = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");

export const BROTLI_STATE_FILE = "state.bin.br";
/** The path browsers fetch: the server answers it from state.bin.br. */
export const BROTLI_STATE_PATH = "state.bin";

function readIfThere(path: string): Buffer | null {
  try {
    return readFileSync(path);
  } catch {
    return null;
  }
}

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) visit(full);
      else out.push(relative(dir, full));
    }
  };
  visit(dir);
  return out;
}

/**
 * SHA256SUMS of every file of the image (manifest.json included), apart from
 * a 9p filesystem's content-addressed files (files/), each named by its own sum.
 */
export function writeSums(dir: string): number {
  const sums = listFiles(dir)
    .filter((f) => f !== "SHA256SUMS" && !f.startsWith("files/"))
    .map((f) => `${sha256(readFileSync(join(dir, f)))}  ${f}`);
  writeFileSync(join(dir, "SHA256SUMS"), `${sums.join("\n")}\n`);
  return sums.length;
}

/** Writes state.bin.br from state.bin.gz, names it in manifest.json, and writes SHA256SUMS again. */
export function writeBrotliState(dir: string, options: { reuse?: boolean } = {}): void {
  const raw = gunzipSync(readFileSync(join(dir, "state.bin.gz")));
  const brPath = join(dir, BROTLI_STATE_FILE);
  // `reuse`: keep a state.bin.br that already holds this state (compressing takes minutes).
  const existing = options.reuse ? readIfThere(brPath) : null;
  let br: Buffer;
  if (existing && sha256(brotliDecompressSync(existing)) === sha256(raw)) {
    br = existing;
  } else {
    const t0 = performance.now();
    br = brotliCompressSync(raw, {
      params: {
        [constants.BROTLI_PARAM_QUALITY]: 11,
        [constants.BROTLI_PARAM_LGWIN]: 24,
        [constants.BROTLI_PARAM_SIZE_HINT]: raw.length,
      },
    });
    writeFileSync(brPath, br);
    console.log(`state: ${br.length} bytes brotli (in ${Math.round(performance.now() - t0)} ms)`);
  }

  const manifestPath = join(dir, "manifest.json");
  const manifest = JSON.parse(readFileSync(manifestPath, "utf8"));
  manifest.files.state.transport = {
    path: BROTLI_STATE_PATH,
    encoding: "br",
    rawSha256: sha256(raw),
    bytes: br.length,
  };
  writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);

  writeSums(dir);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: brotli-state.ts <guest-dir>");
    process.exit(2);
  }
  writeBrotliState(dir, { reuse: true });
}
