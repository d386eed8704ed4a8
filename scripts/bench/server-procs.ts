// Processes the signaling benchmarks start: our server as plain JavaScript (the
// real `npm start` entry, types stripped ahead of time so no TypeScript loader
// sits in its memory), any other `node` server, and load generators
// (signaling-load.ts) driven over IPC; and the CPU and memory figures read
// from /proc about them.
import { type ChildProcess, fork, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import ts from "typescript";
import { root, round } from "./context.ts";
import { sampleCpu } from "./proc-cpu.ts";
import type { LoadCommand, LoadReply } from "./signaling-load.ts";

export function tsFiles(dir: string): string[] {
  return readdirSync(join(root, dir)).flatMap((name) => {
    const rel = join(dir, name);
    if (statSync(join(root, rel)).isDirectory()) return tsFiles(rel);
    return rel.endsWith(".ts") && !rel.endsWith(".d.ts") ? [rel] : [];
  });
}

/** signaling-server/, core/ and transports/ as plain JavaScript (types stripped, `.ts` imports rewritten). */
export function buildOurs(): string {
  const out = join(root, "node_modules/.cache/spare-signaling-bench");
  rmSync(out, { recursive: true, force: true });
  for (const file of [...tsFiles("signaling-server"), ...tsFiles("core"), ...tsFiles("transports")]) {
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

/** Starts `node args` and waits for a stdout line matching `ready`. */
export function startNode(
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

export async function stop(proc: ChildProcess): Promise<void> {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => proc.once("exit", () => resolve()));
  proc.kill("SIGTERM");
  const timer = setTimeout(() => proc.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(timer);
}

/** A load generator process, and a request/reply over its IPC channel. */
export class Generator {
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
    // A send after the generator has gone fails here; its requests are rejected at its exit.
    this.proc.on("error", () => undefined);
    this.proc.once("exit", (code, signal) => {
      for (const p of this.pending.values()) p.reject(new Error(`load generator exited (${signal ?? code})`));
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

export function rssMb(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  return Number(kb) / 1024;
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** CPU seconds used so far by each of `pids`, and by the whole machine (busy, all cores). */
export function cpuNow(pids: number[]): { procs: number[]; machineBusy: number; at: number } {
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
export function coresUsed(a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>): string {
  const s = b.at - a.at;
  const used = b.procs.map((v, i) => (v - a.procs[i]!) / s);
  const rest = used.slice(1).reduce((x, y) => x + y, 0);
  return `server ${round(used[0]!, 2)}, load generators ${round(rest, 2)}, whole machine ${round((b.machineBusy - a.machineBusy) / s, 2)} cores`;
}
