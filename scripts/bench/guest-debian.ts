// Issue 14's image numbers for the Debian guest (public/guest-debian/): a
// restore of the saved state to the shell and the first python3 in the app's
// VM worker in Chromium, and in raw v86 under Node (its 9p root read from the
// image's content-addressed files as the guest opens them), a cold boot to the
// shell, the same restore and python3, what a browser would
// download to reach the prompt (the brotli state, the emulator, the index and
// every file the guest read), and the checkpoint after an `apt install` (a
// delta against the image's state, gzipped, as hosts send them).

import { readFileSync, statSync } from "node:fs";
import { createRequire, syncBuiltinESMExports } from "node:module";
import { join } from "node:path";
import { gunzipSync, gzipSync } from "node:zlib";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { indexBase } from "../../core/guest/state-delta-base.ts";
import { encodeDelta } from "../../core/guest/state-delta-encode.ts";
import { withTimeout } from "../../core/util/async.ts";
import { NodeVm, v86WasmPath } from "../lib/node-vm.ts";
import { type BenchContext, callPage, log, root, round } from "./context.ts";

const dir = join(root, "public/guest-debian");

/** Counts the bytes v86 reads through Node's fs.promises.readFile (how it loads files in Node). */
function countReads(): { bytes: () => number; paths: Set<string>; stop: () => void } {
  const fsPromises = createRequire(import.meta.url)("node:fs/promises");
  const original = fsPromises.readFile;
  const paths = new Set<string>();
  let bytes = 0;
  fsPromises.readFile = async (path: string, ...rest: unknown[]) => {
    const data = await original(path, ...rest);
    if (typeof path === "string" && path.startsWith(dir)) {
      paths.add(path);
      bytes += statSync(path).size;
    }
    return data;
  };
  syncBuiltinESMExports();
  return {
    bytes: () => bytes,
    paths,
    stop: () => {
      fsPromises.readFile = original;
      syncBuiltinESMExports();
    },
  };
}

/**
 * The same image in the app's VM worker in Chromium (bench.html): from the
 * worker's start to the shell answering, then the first python3. A first visit:
 * the state, the index and the files come from the server.
 */
async function inBrowser(ctx: BenchContext): Promise<{ restoreMs: number; firstPythonMs: number }> {
  const page = await ctx.newPage("bench.html");
  try {
    await page.waitForFunction(() => document.documentElement.dataset.benchReady === "true");
    const t0 = Date.now();
    await callPage(page, "spareBench", "start", [{ cold: false, budgetPct: 100, image: "debian" }]);
    await callPage(page, "spareBench", "run", ["true"]);
    const restoreMs = Date.now() - t0;
    const firstPythonMs = await callPage<number>(page, "spareBench", "run", ['python3 -c "print(6*7)"']);
    await callPage(page, "spareBench", "destroy", []);
    return { restoreMs, firstPythonMs };
  } finally {
    await page.context().close();
  }
}

export async function guestDebianBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const browser = await inBrowser(ctx);
  log(
    `debian in the app's worker: restore to the shell ${browser.restoreMs} ms, first python3 ${round(browser.firstPythonMs)} ms`,
  );
  const manifest = parseGuestManifest(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
  const fs = manifest.filesystem!;
  const basefs = { index: join(dir, fs.index.path), filesDir: `${join(dir, fs.filesDir)}` };
  const read = (name: string) => new Uint8Array(readFileSync(join(dir, name)));
  const memorySizeBytes = manifest.memorySizeBytes;

  const coldStart = performance.now();
  const cold = await NodeVm.start({
    memorySizeBytes,
    basefs,
    cold: {
      bios: read(manifest.files.bios.path),
      vgaBios: read(manifest.files.vgaBios.path),
      bzimage: read(manifest.files.bzimage.path),
      initrd: read(manifest.files.initrd.path),
      cmdline: manifest.cmdline,
    },
  });
  await withTimeout(cold.tail.waitFor("# "), 600_000, "cold boot");
  await cold.run("true", 60_000);
  const coldBootMs = performance.now() - coldStart;
  await cold.destroy();
  log(`debian cold boot to the shell: ${round(coldBootMs)} ms`);

  const base = gunzipSync(readFileSync(join(dir, manifest.files.state.path)));
  const reads = countReads();
  const restoreStart = performance.now();
  const vm = await NodeVm.start({ memorySizeBytes, basefs, state: base.buffer.slice(0) as ArrayBuffer });
  try {
    await vm.run("true", 60_000);
    const restoreMs = performance.now() - restoreStart;
    const toPrompt = reads.bytes();
    const filesToPrompt = reads.paths.size;
    const pythonStart = performance.now();
    const python = await vm.run('python3 -c "print(6*7)"', 120_000);
    const firstPythonMs = performance.now() - pythonStart;
    if (!python.includes("42")) throw new Error(`python3 answered ${JSON.stringify(python)}`);
    reads.stop();
    const transportBytes = manifest.files.state.transport?.bytes ?? manifest.files.state.bytes;
    const downloadedBytes = transportBytes + statSync(v86WasmPath).size + toPrompt;
    log(
      `debian restore ${round(restoreMs)} ms, first python3 ${round(firstPythonMs)} ms; to the prompt: state ${transportBytes} B, ${filesToPrompt} files ${toPrompt} B`,
    );

    const installed = await vm.run("apt-get install -y -q hello >/dev/null 2>&1; hello", 300_000);
    if (!installed.includes("Hello, world!")) throw new Error(`apt install: ${JSON.stringify(installed)}`);
    const saved = new Uint8Array(await vm.save());
    const checkpoint = gzipSync(encodeDelta(saved, indexBase(new Uint8Array(base))));
    log(`debian checkpoint after apt install hello: ${checkpoint.length} B (state ${saved.length} B)`);
    return {
      guest_debian: {
        restore_ms: browser.restoreMs,
        first_python_ms: round(browser.firstPythonMs),
        node: {
          restore_ms: round(restoreMs),
          first_python_ms: round(firstPythonMs),
        },
        cold_boot_ms: round(coldBootMs),
        downloaded_mb_to_prompt: round(downloadedBytes / 1e6, 1),
        checkpoint_bytes_after_pip_or_apt: checkpoint.length,
      },
    };
  } finally {
    reads.stop();
    await vm.destroy();
  }
}
