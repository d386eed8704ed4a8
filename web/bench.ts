// A page for `npm run bench`: the same worker, guest and governor as the app,
// without its UI, so a benchmark can boot from scratch, set budgets and read
// statistics directly.
import { ConsoleTail, markCommand } from "../core/guest-console.ts";
import type { StartResult, VmStats } from "../worker/api.ts";
import { guestSource, imageState } from "./guest.ts";
import { VmWorker } from "./vm-worker.ts";

let vm: VmWorker | null = null;
let tail = new ConsoleTail();
let nonce = 1;

const bench = {
  async start(options: { cold: boolean; budgetPct: number }): Promise<StartResult> {
    tail = new ConsoleTail();
    vm = new VmWorker();
    return vm.start(
      { guest: guestSource(), states: options.cold ? [] : [imageState()], budgetPct: options.budgetPct },
      { output: (bytes) => tail.push(bytes), progress: () => {} },
    );
  },
  /** Runs a shell command; resolves with the milliseconds until it finished. */
  async run(command: string): Promise<number> {
    if (!vm) throw new Error("no VM");
    const t0 = performance.now();
    const marked = markCommand(command, nonce++);
    const from = tail.end;
    await vm.api.input(new TextEncoder().encode(marked.line));
    await tail.waitFor(marked.done, from);
    return performance.now() - t0;
  },
  send(text: string): Promise<void> {
    if (!vm) throw new Error("no VM");
    return vm.api.input(new TextEncoder().encode(text));
  },
  setBudget(pct: number): Promise<void> {
    if (!vm) throw new Error("no VM");
    return vm.api.setBudget(pct);
  },
  stats(): Promise<VmStats> {
    if (!vm) throw new Error("no VM");
    return vm.api.stats();
  },
  async destroy(): Promise<void> {
    await vm?.dispose();
    vm = null;
  },
};

(globalThis as unknown as { spareBench: typeof bench }).spareBench = bench;
document.documentElement.dataset.benchReady = "true";
