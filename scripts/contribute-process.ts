// The headless contributor as a real child process, for the tests and the
// bench: started as `npm run contribute` starts it (node on the bin script),
// its log read line by line, its threads' nice values read from /proc.
import { type ChildProcess, spawn } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { threadIds, threadNice } from "../contributor/nice.ts";
import { autogroupOf } from "../contributor/session.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
export const CONTRIBUTE_BIN = "bin/spare-cycles-contribute.mjs";

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class ContributorProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  stderr = "";
  readonly exited: Promise<Exit>;
  private readonly waiters = new Set<() => void>();

  constructor(args: string[], options: { echo?: string; env?: Record<string, string> } = {}) {
    this.child = spawn(process.execPath, [CONTRIBUTE_BIN, ...args], {
      cwd: root,
      stdio: ["ignore", "pipe", "pipe"],
      ...(options.env && { env: { ...process.env, ...options.env } }),
    });
    let partial = "";
    this.child.stdout?.setEncoding("utf8").on("data", (chunk: string) => {
      const parts = (partial + chunk).split("\n");
      partial = parts.pop() ?? "";
      for (const line of parts) {
        this.lines.push(line);
        if (options.echo) console.log(`[${options.echo}] ${line}`);
      }
      for (const wake of this.waiters) wake();
    });
    this.child.stderr?.setEncoding("utf8").on("data", (chunk: string) => {
      this.stderr += chunk;
      if (options.echo) process.stderr.write(`[${options.echo}] ${chunk}`);
    });
    this.exited = new Promise((resolve) =>
      this.child.once("exit", (code, signal) => resolve({ code, signal })),
    );
    void this.exited.then(() => {
      for (const wake of this.waiters) wake();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Resolves with the first log line matching `pattern` (past or future); rejects on exit or timeout. */
  waitForLine(pattern: RegExp, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      let done = false;
      const check = () => {
        if (done) return;
        const line = this.lines.find((l) => pattern.test(l));
        const finish = (fn: () => void) => {
          done = true;
          this.waiters.delete(check);
          clearTimeout(timer);
          fn();
        };
        if (line !== undefined) finish(() => resolve(line));
        else if (this.child.exitCode !== null || this.child.signalCode !== null)
          finish(() => reject(new Error(`the contributor exited before logging ${pattern}: ${this.stderr}`)));
      };
      const timer = setTimeout(() => {
        done = true;
        this.waiters.delete(check);
        reject(new Error(`no log line ${pattern} within ${timeoutMs} ms; log:\n${this.lines.join("\n")}`));
      }, timeoutMs);
      this.waiters.add(check);
      check();
    });
  }

  /** Its process and every process it started (it hosts in a child of its own session), from /proc. */
  processes(): number[] {
    const parentOf = new Map<number, number>();
    for (const name of readdirSync("/proc")) {
      if (!/^\d+$/.test(name)) continue;
      try {
        const stat = readFileSync(`/proc/${name}/stat`, "utf8");
        parentOf.set(Number(name), Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]));
      } catch {
        // gone meanwhile
      }
    }
    const within = (pid: number): boolean => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; p = parentOf.get(p) ?? 0, hops++)
        if (p === this.pid) return true;
      return false;
    };
    return [...parentOf.keys()].filter(within);
  }

  /** The nice value of each thread of each of its processes now, by "pid/tid" (empty once it has gone). */
  threadNices(): Map<string, number> {
    const out = new Map<string, number>();
    for (const pid of this.processes()) {
      for (const tid of threadIds(pid) ?? []) {
        const nice = threadNice(tid, pid);
        if (nice !== null) out.set(`${pid}/${tid}`, nice);
      }
    }
    return out;
  }

  /** The autogroup nice of each of its processes (Linux with autogroups), by pid. */
  autogroupNices(): Map<number, number> {
    const out = new Map<number, number>();
    for (const pid of this.processes()) {
      const group = autogroupOf(pid);
      if (group) out.set(pid, group.nice);
    }
    return out;
  }

  /** The process that hosts: the one it started in a session of its own, or itself. */
  hostPid(): number {
    return this.processes().find((p) => p !== this.pid) ?? this.pid;
  }

  signal(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Ends it (SIGTERM, then SIGKILL after `graceMs`) and waits for the exit. */
  async stop(graceMs = 25_000): Promise<Exit> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), graceMs);
      const exit = await this.exited;
      clearTimeout(timer);
      return exit;
    }
    return this.exited;
  }
}
