// Issue 12's first numbers: a small page served by busybox httpd in the guest,
// fetched by the host through v86's own TCP/IP (raw v86 in Node, the
// `network_adapter.connect` baseline the mesh and the gateway will be compared
// against), and the same through the VM host's TCP API (worker/guest-tcp.ts).
import { readFileSync } from "node:fs";
import { gunzipSync } from "node:zlib";
import { guestMacForVm } from "../../core/guest/guest-mac.ts";
import { parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { withTimeout } from "../../core/util/async.ts";
import type { V86TcpConnection } from "../../worker/guest-nic.ts";
import { GuestTcpTable } from "../../worker/guest-tcp.ts";
import { NodeVm } from "../lib/node-vm.ts";
import { type BenchContext, log, percentile, root, round } from "./context.ts";
import { webMeshBench } from "./web-mesh.ts";

const FETCHES = 200;
const BIG_BYTES = 1024 * 1024;
const PAGE = "<!doctype html><title>Spare Cycles</title><h1>Hello from a VM</h1>";
const manifest = parseGuestManifest(JSON.parse(readFileSync(`${root}/public/guest/manifest.json`, "utf8")));
const request = (path: string) => new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: vm\r\n\r\n`);

/** One GET through v86's adapter directly: connect, write, read until the guest closes. */
function rawGet(vm: NodeVm, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const conn: V86TcpConnection = vm.nic.connect(80);
    let bytes = 0;
    conn.on("connect", () => conn.write(request(path)));
    conn.on("data", (data) => {
      bytes += data.byteLength;
    });
    conn.on("shutdown", () => {
      conn.close();
      resolve(bytes);
    });
    conn.on("close", () => reject(new Error("the guest reset the connection")));
  });
}

/** The same through the VM host's TCP API. */
async function apiGet(table: GuestTcpTable, path: string): Promise<number> {
  const id = await table.open(80);
  try {
    table.write(id, request(path));
    let bytes = 0;
    for (;;) {
      const chunk = await table.read(id);
      if (!chunk) return bytes;
      bytes += chunk.byteLength;
    }
  } finally {
    table.close(id);
  }
}

async function timed(fetchOnce: () => Promise<number>, minBytes: number): Promise<number> {
  const t0 = performance.now();
  const bytes = await withTimeout(fetchOnce(), 30_000, "a page from the guest");
  if (bytes < minBytes) throw new Error(`the guest sent ${bytes} bytes, expected at least ${minBytes}`);
  return performance.now() - t0;
}

/**
 * `web_hosting`: the guest's httpd raw in Node, through the VM host's TCP API, and
 * through the product. The raw guest stays up for the product's part, so raw
 * fetches are also taken in turns with the mesh's (same machine load).
 */
export async function webHostingBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const vm = await startRawGuest();
  try {
    const raw = await rawBench(vm);
    // A raw fetch whose source port the guest still holds in TIME_WAIT hangs (v86 never
    // sends its SYN again): such a turn is skipped, not waited out.
    const rawInTurn = async (): Promise<number | null> => {
      const t0 = performance.now();
      const ok = await withTimeout(rawGet(vm, "/"), 3000, "a raw fetch").then(
        (bytes) => bytes >= PAGE.length,
        () => false,
      );
      return ok ? performance.now() - t0 : null;
    };
    return { web_hosting: { ...raw, ...(await webMeshBench(ctx, rawInTurn)) } };
  } finally {
    await vm.destroy();
  }
}

/** The small guest restored in Node, serving /www (a small page and 1 MiB) with busybox httpd. */
async function startRawGuest(): Promise<NodeVm> {
  const state = gunzipSync(readFileSync(`${root}/public/guest/${manifest.files.state.path}`));
  const vm = await NodeVm.start({
    memorySizeBytes: manifest.memorySizeBytes,
    state: state.buffer as ArrayBuffer,
    mac: guestMacForVm("bench-web-hosting"),
  });
  await new Promise((r) => setTimeout(r, 0));
  await vm.run(
    `mkdir -p /www && printf '%s' '${PAGE}' > /www/index.html && ` +
      `dd if=/dev/zero of=/www/big bs=1024 count=${BIG_BYTES / 1024} 2>/dev/null && httpd -p 80 -h /www`,
  );
  return vm;
}

async function rawBench(vm: NodeVm): Promise<Record<string, number>> {
  const table = new GuestTcpTable(() => vm.nic);
  for (let i = 0; i < 10; i++) await timed(() => rawGet(vm, "/"), PAGE.length); // warm the guest and the JIT
  // In turns, so both ways meet the same guest (its caches, the JIT, the machine's load).
  const raw: number[] = [];
  const api: number[] = [];
  for (let i = 0; i < FETCHES; i++) {
    raw.push(await timed(() => rawGet(vm, "/"), PAGE.length));
    api.push(await timed(() => apiGet(table, "/"), PAGE.length));
  }
  const big: number[] = [];
  for (let i = 0; i < 3; i++) big.push(await timed(() => apiGet(table, "/big"), BIG_BYTES));
  const result = {
    node_raw_http_p50_ms: round(percentile(raw, 50), 1),
    node_raw_http_p95_ms: round(percentile(raw, 95), 1),
    node_api_http_p50_ms: round(percentile(api, 50), 1),
    node_api_http_p95_ms: round(percentile(api, 95), 1),
    node_api_kib_per_s_1mib: round(BIG_BYTES / 1024 / (percentile(big, 50) / 1000)),
  };
  log(`web_hosting: ${JSON.stringify(result)}`);
  return result;
}
