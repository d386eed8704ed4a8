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
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join } from "node:path";
import ts from "typescript";
import { type BenchContext, log, root, round } from "./context.ts";
import { sampleCpu } from "./proc-cpu.ts";
import type { LoadCommand, LoadReply, Protocol } from "./signaling-load.ts";

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

function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) return tsFiles(rel);
    return rel.endsWith(".ts") && !rel.endsWith(".d.ts") ? [rel] : [];
  });
}

/** signaling-server/ and core/ as plain JavaScript (types stripped, `.ts` imports rewritten). */
function buildOurs(): string {
  const out = join(root, "node_modules/.cache/spare-signaling-bench");
  rmSync(out, { recursive: true, force: true });
  for (const file of [...tsFiles("signaling-server"), ...tsFiles("core")]) {
    const { outputText } = ts.transpileModule(readFileSync(join(root, file), "utf8"), {
      fileName: file,
      compilerOptions: {
        module: ts.ModuleKind.ESNext,
        target: ts.ScriptTarget.ES2022,
        rewriteRelativeImportExtensions: true,
        verbatimModuleSyntax: true,
      },
    });
    const target = join(out, file.replace(/\.ts$/, ".js"));
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, outputText);
  }
  writeFileSync(join(out, "package.json"), '{"type":"module"}\n');
  symlinkSync(join(root, "dist"), join(out, "dist"));
  return join(out, "signaling-server/main.js");
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** Starts `node args` and waits for a stdout line matching `ready`. */
function startNode(
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
): Promise<{ proc: ChildProcess; line: string }> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, args, {
      cwd: root,
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    const timer = setTimeout(() => fail(new Error(`no ready line from ${args.join(" ")}: ${out}`)), 20_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      proc.kill("SIGKILL");
      reject(err);
    };
    proc.once("exit", (code) => fail(new Error(`${args.join(" ")} exited (${code}): ${out}`)));
    proc.stdout!.setEncoding("utf8");
    proc.stdout!.on("data", (d: string) => {
      out += d;
      const line = out.split("\n").find((l) => ready.test(l));
      if (!line) return;
      clearTimeout(timer);
      proc.removeAllListeners("exit");
      proc.stdout!.removeAllListeners("data");
      proc.stdout!.resume();
      resolve({ proc, line });
    });
  });
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

async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A load generator process, and a request/reply over its IPC channel. */
class Generator {
  readonly proc: ChildProcess;
  private nextId = 0;
  private readonly pending = new Map<number, { resolve(r: LoadReply): void; reject(e: Error): void }>();

  constructor() {
    this.proc = fork(join(root, "scripts/bench/signaling-load.ts"), [], {
      cwd: root,
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.proc.on("message", (raw) => {
      const { id, reply, error } = raw as { id: number; reply?: LoadReply; error?: string };
      const p = this.pending.get(id);
      this.pending.delete(id);
      if (error !== undefined) p?.reject(new Error(error));
      else p?.resolve(reply!);
    });
    this.proc.once("exit", (code) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${code})`));
      this.pending.clear();
    });
  }

  request<R extends LoadReply>(command: LoadCommand): Promise<R> {
    const id = this.nextId++;
    return new Promise<LoadReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.proc.send({ id, command });
    }) as Promise<R>;
  }

  async close(): Promise<void> {
    await this.request({ cmd: "exit" }).catch(() => undefined);
    await stop(this.proc);
  }
}

function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
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

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds used so far by each of `pids`, and by the whole machine (busy, all cores). */
function cpuNow(pids: number[]): { procs: number[]; machineBusy: number; at: number } {
  const cpu = /^cpu\s+(.*)$/m.exec(readFileSync("/proc/stat", "utf8"))![1]!.split(/\s+/).map(Number);
  // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
  const busyTicks = cpu.slice(0, 8).reduce((a, b) => a + b, 0) - cpu[3]! - cpu[4]!;
  return {
    procs: pids.map((pid) => sampleCpu([pid], /./).processesMs / 1000),
    machineBusy: busyTicks / 100,
    at: performance.now() / 1000,
  };
}

/** Cores used between two cpuNow() samples: by the first pid, by the others together, by the machine. */
function coresUsed(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>): string {
  const s = b.at - a.at;
  const used = b.procs.map((v, i) => (v - a.procs[i]!) / s);
  const rest = used.slice(1).reduce((x, y) => x + y, 0);
  return `server ${round(used[0]!, 2)}, load generators ${round(rest, 2)}, whole machine ${round((b.machineBusy - a.machineBusy) / s, 2)} cores`;
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
