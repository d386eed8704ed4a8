// Every thread of this process at OS priority 19. On Linux nice is per thread:
// os.setPriority(0, 19) changes only the calling thread, and the threads Node
// started before it (libuv, V8's platform, the module loader's) keep 0. So each
// task in /proc/self/task is set by its id; threads started afterwards inherit
// the nice of the thread that starts them, and a sweep (`keepNice`) catches any
// that did not. Elsewhere (no /proc) the whole process is set, which is what
// setpriority does on macOS and the BSDs.
import { readdirSync, readFileSync } from "node:fs";
import { setPriority } from "node:os";

export const LOWEST_PRIORITY = 19;

/** The thread ids of a process (Linux), or null where /proc is not there. */
export function threadIds(pid: number | "self" = "self"): number[] | null {
  try {
    return readdirSync(`/proc/${pid}/task`).map(Number);
  } catch {
    return null;
  }
}

/** The nice value of one thread, from field 19 of its stat line (null if it has gone). */
export function threadNice(tid: number, pid: number | "self" = "self"): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces) start at field 3.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[19 - 3]);
  } catch {
    return null;
  }
}

/** Sets every thread of this process to `nice`; returns how many it had to change. */
export function niceEveryThread(nice = LOWEST_PRIORITY): number {
  const tids = threadIds();
  if (!tids) {
    setPriority(0, nice);
    return 0;
  }
  let changed = 0;
  for (const tid of tids) {
    const now = threadNice(tid);
    if (now === null || now >= nice) continue;
    try {
      setPriority(tid, nice);
      changed++;
    } catch {
      // the thread ended meanwhile
    }
  }
  return changed;
}

/** Checks every `intervalMs` that no thread runs above `nice`; returns what stops the checks. */
export function keepNice(intervalMs: number, onChanged: (threads: number) => void): () => void {
  const timer = setInterval(() => {
    const changed = niceEveryThread();
    if (changed > 0) onChanged(changed);
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
