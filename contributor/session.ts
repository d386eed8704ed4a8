// Linux's autogroup: with it on (the default of most distributions), the
// scheduler first shares the CPU fairly between sessions, and nice counts only
// inside one. A contributor at nice 19 in the session of a terminal still takes
// that session's fair share from the box's other work. So the contributor runs
// in a session of its own (started again with setsid) and sets that session's
// autogroup to nice 19 too; its parent only passes signals on and waits.
import { spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { LOWEST_PRIORITY } from "./nice.ts";

interface Autogroup {
  name: string;
  nice: number;
}

/** The autogroup of a process ("/autogroup-12 nice 0"), or null where there is none. */
export function autogroupOf(pid: number | "self" = "self"): Autogroup | null {
  try {
    const m = /^(\S+)\s+nice\s+(-?\d+)/.exec(readFileSync(`/proc/${pid}/autogroup`, "utf8"));
    return m ? { name: m[1]!, nice: Number(m[2]) } : null;
  } catch {
    return null;
  }
}

function autogroupsOn(): boolean {
  try {
    return readFileSync("/proc/sys/kernel/sched_autogroup_enabled", "utf8").trim() === "1";
  } catch {
    return false;
  }
}

export type SessionPlan = "no-autogroups" | "own" | "start-own";

/** Whether this process leads its session (so the session's autogroup is its own). */
function leadsSession(): boolean {
  try {
    const stat = readFileSync("/proc/self/stat", "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[3]) === process.pid;
  } catch {
    return false;
  }
}

/**
 * Whether this process may set its autogroup's nice (it leads its session, so
 * the group is its own: never a terminal's or a service manager's others share),
 * or must start again in a session of its own first.
 */
export function sessionPlan(): SessionPlan {
  if (!autogroupsOn() || !autogroupOf()) return "no-autogroups";
  return leadsSession() ? "own" : "start-own";
}

/** Sets this process's (own) autogroup to nice 19; returns the nice it has now. */
export function niceAutogroup(): number | null {
  try {
    writeFileSync("/proc/self/autogroup", String(LOWEST_PRIORITY));
  } catch {
    // not permitted here: report what it is
  }
  return autogroupOf()?.nice ?? null;
}

/**
 * Runs this same command again in a new session (its own autogroup), passes
 * SIGINT and SIGTERM on, and resolves with its exit code. The child stops
 * gracefully on its own if this process dies (its IPC channel closes).
 */
export function runInOwnSession(): Promise<number> {
  const child = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], {
    detached: true,
    stdio: ["inherit", "inherit", "inherit", "ipc"],
  });
  const pass = (signal: NodeJS.Signals) => () => child.kill(signal);
  const onInt = pass("SIGINT");
  const onTerm = pass("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  return new Promise((resolve) => {
    child.once("error", (err) => {
      process.stderr.write(`spare-cycles-contribute: could not start in its own session: ${err.message}\n`);
      resolve(70);
    });
    child.once("exit", (code, signal) => {
      process.off("SIGINT", onInt);
      process.off("SIGTERM", onTerm);
      resolve(code ?? (signal ? 128 + 15 : 70));
    });
  });
}

/** In the contributor started by runInOwnSession: resolves when its parent has gone. */
export function parentGone(): Promise<void> {
  return new Promise((resolve) => {
    if (!process.channel) return;
    process.once("disconnect", () => resolve());
    // The channel must not keep this process alive by itself.
    process.channel.unref();
  });
}
