// The signaling server under load, against y-webrtc's signaling server under
// the same load script (scripts/bench/signaling-load.ts, one adapter per
// protocol). Each server runs as its own plain `node` process so its resident
// memory is its own; ours is the real `npm start` entry (signaling-server/main.ts,
// limits from SIGNAL_* variables), type-stripped ahead of time so that no
// TypeScript loader sits in its memory. The load comes from separate generator
// processes.
//
//   sockets_held      sockets open at once, every one joined (ours) or subscribed (y-webrtc)
//   rss_mb            the server's VmRSS while holding them
//   relay_msgs_per_s  messages delivered per second through the server by sender/receiver
//                     pairs that keep a fixed number in flight, while the sockets are held
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { freePort } from "../../tests/helpers/free-port.ts";
import { type BenchContext, log, root, round } from "./context.ts";
import { buildOurs, coresUsed, cpuNow, Generator, rssMb, sleep, startNode, stop } from "./server-procs.ts";
import type { LoadReply, Protocol } from "./signaling-load.ts";

/** Sockets to hold; SIGNAL_BENCH_SOCKETS overrides it for a quick look. */
const HOLD = Number(process.env.SIGNAL_BENCH_SOCKETS ?? 10_000);
const GENERATORS = 2;
const ROOM_SIZE = 20;
const PAIRS_PER_GENERATOR = 100;
/** Messages in flight per pair. */
const WINDOW = 8;
const WARMUP_MS = 1_500;
const MEASURE_MS = 5_000;

/** Ours is measured with its defaults except these: many sockets from few addresses, and no rate limit in the way. */
const OUR_LIMITS = {
  SIGNAL_SOCKETS_PER_IP: "20000",
  SIGNAL_MESSAGES_PER_SECOND: "100000",
  SIGNAL_BURST: "100000",
};

interface Result {
  sockets_held: number;
  rss_mb: number;
  relay_msgs_per_s: number;
}

interface Server {
  proc: ChildProcess;
  url: string;
}

async function startServer(protocol: Protocol): Promise<Server> {
  if (protocol === "ours") {
    // SIGNAL_BENCH_NODE_ARGS: extra node flags for our server, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
    const extra = process.env.SIGNAL_BENCH_NODE_ARGS?.split(" ").filter(Boolean) ?? [];
    const { proc, line } = await startNode(
      [...extra, buildOurs()],
      { PORT: "0", HOST: "127.0.0.1", ...OUR_LIMITS },
      /running at http:\/\//,
    );
    const url = /http:\/\/([^/\s]+)/.exec(line)![1]!;
    return { proc, url: `ws://${url}/signal` };
  }
  const port = await freePort();
  const { proc } = await startNode(
    [join(root, "node_modules/y-webrtc/bin/server.js")],
    { PORT: String(port) },
    /Signaling server running/,
  );
  return { proc, url: `ws://127.0.0.1:${port}` };
}

/** What our server says of its own memory (/metrics). */
async function ourMemory(wsUrl: string): Promise<string> {
  const text = await (await fetch(`${wsUrl.replace(/^ws/, "http").replace(/\/signal$/, "")}/metrics`)).text();
  const mb = (name: string) => round(Number(new RegExp(`^${name} (\\d+)`, "m").exec(text)?.[1]) / 2 ** 20, 1);
  const peers = /^spare_signaling_peers (\d+)/m.exec(text)?.[1];
  return (
    ` (its heap ${mb("nodejs_heap_used_bytes")} MB in use of ${mb("nodejs_heap_total_bytes")} MB, ` +
    `external ${mb("nodejs_external_memory_bytes")} MB; ${peers} peers joined)`
  );
}

async function measure(protocol: Protocol): Promise<Result> {
  const server = await startServer(protocol);
  const pid = server.proc.pid!;
  const generators = Array.from({ length: GENERATORS }, () => new Generator());
  const pids = [pid, ...generators.map((g) => g.proc.pid!)];
  try {
    log(`${protocol}: idle rss ${round(rssMb(pid), 1)} MB; opening ${HOLD} sockets`);
    const perGenerator = HOLD / GENERATORS;
    const c0 = cpuNow(pids);
    const holds = await Promise.all(
      generators.map((g, k) =>
        g.request<Extract<LoadReply, { held: number }>>({
          cmd: "hold",
          protocol,
          url: server.url,
          count: perGenerator,
          first: k * perGenerator,
          roomSize: ROOM_SIZE,
        }),
      ),
    );
    const socketsHeld = holds.reduce((n, h) => n + h.held, 0);
    const failed = holds.reduce((n, h) => n + h.failed, 0);
    log(
      `${protocol}: ${socketsHeld} held, ${failed} failed in ${Math.max(...holds.map((h) => h.ms))} ms ` +
        `(${coresUsed(c0, cpuNow(pids))})` +
        (failed ? `; first error: ${holds.find((h) => h.firstError)?.firstError}` : ""),
    );
    await sleep(2_000);
    const samples: number[] = [];
    for (let i = 0; i < 3; i++, await sleep(500)) samples.push(rssMb(pid));
    const rss = Math.max(...samples);
    const own = protocol === "ours" ? await ourMemory(server.url) : "";
    log(`${protocol}: rss ${round(rss, 1)} MB holding them${own}`);

    await Promise.all(
      generators.map((g, k) =>
        g.request({
          cmd: "pairs",
          protocol,
          url: server.url,
          pairs: PAIRS_PER_GENERATOR,
          room: `relay-${k}`,
        }),
      ),
    );
    await Promise.all(generators.map((g) => g.request({ cmd: "go", window: WINDOW })));
    await sleep(WARMUP_MS);
    const delivered = async () => {
      const counts = await Promise.all(
        generators.map((g) => g.request<Extract<LoadReply, { delivered: number }>>({ cmd: "count" })),
      );
      return counts.reduce((n, c) => n + c.delivered, 0);
    };
    const r0 = cpuNow(pids);
    const n0 = await delivered();
    await sleep(MEASURE_MS);
    const n1 = await delivered();
    const r1 = cpuNow(pids);
    const rate = (n1 - n0) / (r1.at - r0.at);
    log(
      `${protocol}: ${Math.round(rate)} msgs/s relayed by ${GENERATORS * PAIRS_PER_GENERATOR} pairs ` +
        `(${WINDOW} in flight each; ${coresUsed(r0, r1)}), then rss ${round(rssMb(pid), 1)} MB` +
        (protocol === "ours" ? await ourMemory(server.url) : ""),
    );
    return { sockets_held: socketsHeld, rss_mb: round(rss, 1), relay_msgs_per_s: Math.round(rate) };
  } finally {
    await Promise.all(generators.map((g) => g.close()));
    await stop(server.proc);
  }
}

export async function signalingBench(_ctx: BenchContext): Promise<Record<string, unknown>> {
  const ours = await measure("ours");
  const yWebrtc = await measure("y-webrtc");
  return { signaling: { ours, y_webrtc: yWebrtc } };
}
