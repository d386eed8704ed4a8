// os_nice: what a busy VM in the headless contributor (every thread at nice 19)
// leaves to the machine's own work. One CPU-bound native loop per core, each in
// its own process at nice 0, runs beside the contributor while its VM is idle
// and while the VM runs a busy loop at a 100 % budget, in alternating rounds of
// one run (so the other load on the machine hits both alike); host_loop_ratio is
// the median of (loops' speed beside the busy VM) / (their speed beside it idle);
// host_loop_ratio_proc, the loops' share of the CPU they and the contributor used
// beside the busy VM (from /proc), is what the machine's other work cannot move.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { signalingUrlOf } from "../../contributor/cli-options.ts";
import { ContributorProcess } from "../contribute-process.ts";
import { type BenchContext, log, median, round } from "./context.ts";
import { startBenchOwner } from "./os-nice-owner.ts";

const ROOM = "bench-os-nice";
const STAMP_BITS = 8;
const ROUNDS = 16;
const PHASE_MS = 1200;
const SETTLE_MS = 1000;

const sum = (values: number[]) => values.reduce((a, b) => a + b, 0);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU ms the contributor's processes have used so far (all their threads), from /proc. */
function contributorCpuMs(c: ContributorProcess): number {
  let ms = 0;
  for (const pid of c.processes()) {
    try {
      const s = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      ms += ((Number(f[11]) + Number(f[12])) * 1000) / 100;
    } catch {
      // gone meanwhile
    }
  }
  return ms;
}

const LOOP = `
  const [startAt, durationMs] = process.argv.slice(1).map(Number);
  setTimeout(() => {
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    let n = 0, x = 0;
    while (performance.now() - t0 < durationMs) { for (let i = 0; i < 100000; i++) x = (x * 1103515245 + 12345) | 0; n++; }
    const wallMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    console.log(JSON.stringify({ perMs: n / wallMs, cores: (cpu.user + cpu.system) / 1000 / wallMs, x }));
  }, Math.max(0, startAt - Date.now()));
`;

/** Cores the contributor uses over `ms` from `startAt` (epoch ms). */
async function coresOver(c: ContributorProcess, startAt: number, ms: number): Promise<number> {
  await sleep(startAt - Date.now());
  const cpu0 = contributorCpuMs(c);
  const t0 = performance.now();
  await sleep(ms);
  return (contributorCpuMs(c) - cpu0) / (performance.now() - t0);
}

/**
 * One loop per core, each a process at nice 0, all over the same `durationMs`:
 * their summed speed (iterations per ms) and cores, and the cores the contributor used meanwhile.
 */
async function nativeLoops(c: ContributorProcess, loops: number, durationMs: number) {
  const startAt = Date.now() + 400;
  const speeds = Array.from(
    { length: loops },
    () =>
      new Promise<{ perMs: number; cores: number }>((resolve, reject) => {
        const child = spawn(process.execPath, ["-e", LOOP, String(startAt), String(durationMs)], {
          stdio: ["ignore", "pipe", "inherit"],
        });
        let out = "";
        child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
          out += chunk;
        });
        child.once("error", reject);
        child.once("exit", () => {
          try {
            resolve(JSON.parse(out) as { perMs: number; cores: number });
          } catch {
            reject(new Error(`a native loop printed no speed: ${out}`));
          }
        });
      }),
  );
  // Inside the loops' window, clear of their start and end.
  const cores = coresOver(c, startAt + 200, durationMs - 400);
  const each = await Promise.all(speeds);
  return {
    speed: sum(each.map((l) => l.perMs)),
    loopCores: sum(each.map((l) => l.cores)),
    cores: await cores,
  };
}

export async function osNiceBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const cores = availableParallelism();
  const url = ctx.server.address().url;
  const contributor = new ContributorProcess([
    ...["--server", url, "--room", ROOM, "--name", "bench-headless"],
    ...["--budget", "100", "--slots", "1", "--stamp-bits", String(STAMP_BITS)],
  ]);
  const owner = await startBenchOwner(signalingUrlOf(url), ROOM, STAMP_BITS);
  try {
    await contributor.waitForLine(/offering 1 VM slots/, 30_000);
    const { shell } = await owner.createVm("bench-busy", 120_000);
    const niceValues = [...new Set(contributor.threadNices().values())];
    log(
      `os_nice: VM running on the headless contributor (threads at nice ${niceValues.join(", ")}); ${cores} loops`,
    );
    const busy = new TextEncoder().encode("while :; do :; done\r");
    const interrupt = new Uint8Array([3]);

    shell.input(busy);
    await sleep(SETTLE_MS);
    const busyAlone = await coresOver(contributor, Date.now(), PHASE_MS);
    shell.input(interrupt);
    log(`os_nice: the busy VM alone uses ${round(busyAlone, 2)} cores`);

    const rounds: {
      alone: number;
      beside: number;
      idleCores: number;
      busyCores: number;
      procRatio: number;
    }[] = [];
    const idle = async () => {
      await sleep(SETTLE_MS);
      return nativeLoops(contributor, cores, PHASE_MS);
    };
    const beside = async () => {
      shell.input(busy);
      await sleep(SETTLE_MS);
      const result = await nativeLoops(contributor, cores, PHASE_MS);
      shell.input(interrupt);
      return result;
    };
    for (let r = 0; r < ROUNDS; r++) {
      // Every other round the busy phase goes first, so a drift in the machine's other load cancels out.
      const first = r % 2 === 0 ? await idle() : await beside();
      const second = r % 2 === 0 ? await beside() : await idle();
      const [a, b] = r % 2 === 0 ? [first, second] : [second, first];
      rounds.push({
        alone: a.speed,
        beside: b.speed,
        idleCores: a.cores,
        busyCores: b.cores,
        // Of the CPU the loops and the contributor had between them beside the busy VM, the loops' share.
        procRatio: b.loopCores / (b.loopCores + b.cores),
      });
      log(
        `os_nice round ${r + 1}: loops ${round(a.speed, 2)} → ${round(b.speed, 2)} /ms (ratio ${round(b.speed / a.speed, 3)}); contributor ${round(a.cores, 3)} → ${round(b.cores, 3)} cores, loops ${round(b.loopCores, 2)} cores`,
      );
    }
    return {
      os_nice: {
        host_loop_ratio: round(median(rounds.map((r) => r.beside / r.alone)), 3),
        // The same, as total over total: less swayed by one round the rest of the machine disturbed.
        // Other work on a shared machine moves the loops' speed; this share (from their CPU and the
        // contributor's, /proc) shows what the contributor itself took.
        host_loop_ratio_proc: round(median(rounds.map((r) => r.procRatio)), 3),
        host_loop_ratio_of_sums: round(sum(rounds.map((r) => r.beside)) / sum(rounds.map((r) => r.alone)), 3),
        loops: cores,
        rounds: ROUNDS,
        phase_ms: PHASE_MS,
        vm_budget_pct: 100,
        contributor_thread_nice: niceValues,
        contributor_autogroup_nice: contributor.autogroupNices().get(contributor.hostPid()) ?? null,
        contributor_cores_busy_alone: round(busyAlone, 2),
        contributor_cores_idle_vm: round(median(rounds.map((r) => r.idleCores)), 3),
        contributor_cores_beside_loops: round(median(rounds.map((r) => r.busyCores)), 3),
      },
    };
  } finally {
    await owner.stop();
    await contributor.stop(10_000);
  }
}
