// The real guest image served over HTTP by the real server, and VM hosts
// (worker/vm-host.ts, run directly in Node) started from it, with a console to
// type commands into and an HTTP client that reaches the guest's port 80.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConsoleTail, markCommand } from "../../core/guest/guest-console.ts";
import { guestSourceOf, parseGuestManifest } from "../../core/guest/guest-manifest.ts";
import { delay, withTimeout } from "../../core/util/async.ts";
import { createSignalingServer } from "../../signaling-server/server.ts";
import type { GuestSource, StateSource } from "../../worker/api.ts";
import { VmHost } from "../../worker/vm-host.ts";

const root = fileURLToPath(new URL("../..", import.meta.url));
export const manifest = parseGuestManifest(
  JSON.parse(readFileSync(join(root, "public/guest/manifest.json"), "utf8")),
);

export interface GuestServer {
  guest: GuestSource;
  imageState: Extract<StateSource, { kind: "url" }>;
  close(): Promise<void>;
}

export async function serveGuest(): Promise<GuestServer> {
  const dir = mkdtempSync(join(tmpdir(), "spare-cycles-guest-"));
  symlinkSync(join(root, "public/guest"), join(dir, "guest"));
  symlinkSync(createRequire(import.meta.url).resolve("v86/build/v86.wasm"), join(dir, "v86.wasm"));
  const server = createSignalingServer({ port: 0, staticDir: dir });
  await server.ready;
  const base = server.address().url;
  const f = manifest.files;
  return {
    guest: guestSourceOf(manifest, (file) => `${base}/guest/${file.path}`, `${base}/v86.wasm`),
    imageState: {
      kind: "url",
      url: `${base}/guest/${f.state.path}`,
      sha256: f.state.sha256,
      bytes: f.state.bytes,
      transcript: manifest.consoleTranscript,
      label: "The image's state",
    },
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface StartedHost {
  host: VmHost;
  tail: ConsoleTail;
  /** Types `command` and resolves with what it printed. */
  run(command: string, timeoutMs?: number): Promise<string>;
}

export async function startHost(
  server: GuestServer,
  options: { states?: StateSource[]; mac?: string; coldBoot?: boolean; outbound?: boolean } = {},
): Promise<StartedHost> {
  const host = new VmHost();
  const tail = new ConsoleTail();
  await host.start(
    {
      guest: server.guest,
      states: options.states ?? [server.imageState],
      budgetPct: 100,
      coldBoot: options.coldBoot,
      mac: options.mac,
      outbound: options.outbound,
    },
    { output: (bytes) => tail.push(bytes), progress: () => {} },
  );
  let nonce = 1;
  const run = async (command: string, timeoutMs = 30_000) => {
    const from = tail.end;
    const marked = markCommand(command, nonce++);
    host.input(new TextEncoder().encode(marked.line));
    const at = await withTimeout(tail.waitFor(marked.done, from), timeoutMs, command);
    return tail.since(from).slice(0, at - from);
  };
  return { host, tail, run };
}

export interface HttpAnswer {
  status: number;
  headers: string;
  body: string;
  bytes: number;
}

/** GET `path` from the guest's port 80 through the host's TCP API (HTTP/1.0: the guest closes after it). */
export async function httpGet(
  api: Pick<VmHost, "tcpOpen" | "tcpWrite" | "tcpRead" | "tcpClose">,
  path: string,
  readDelayMs = 0,
): Promise<HttpAnswer> {
  const id = await api.tcpOpen(80);
  try {
    api.tcpWrite(id, new TextEncoder().encode(`GET ${path} HTTP/1.0\r\nHost: vm\r\n\r\n`));
    const parts: Uint8Array[] = [];
    for (;;) {
      const chunk = await api.tcpRead(id);
      if (!chunk) break;
      parts.push(chunk);
      if (readDelayMs > 0) await delay(readDelayMs); // a slow reader
    }
    const raw = Buffer.concat(parts);
    const split = raw.indexOf("\r\n\r\n");
    const head = raw.subarray(0, split).toString("latin1");
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
    const body = raw.subarray(split + 4);
    return { status, headers: head, body: body.toString("utf8"), bytes: body.byteLength };
  } finally {
    api.tcpClose(id);
  }
}
