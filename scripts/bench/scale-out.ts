// Two signaling instances sharing rooms over one real redis-server, against one
// instance alone, with the same load generator in the same run. This 2-core
// machine cannot show what more machines gain, so what is measured is the cost
// of crossing Redis:
//
//   single_instance_relay_msgs_per_s  pairs bouncing signals through one instance
//   cross_instance_relay_msgs_per_s   the same pairs with the receiver on the other instance
//   cross_join_ms                     p50 from a join sent to one instance until a member on
//                                     the other hears peer-joined
//   redis_rss_mb                      redis-server's resident memory after all of it
import type { ChildProcess } from "node:child_process";
import { startRedisServer } from "../../tests/helpers/redis-server.ts";
import { type BenchContext, log, percentile, round } from "./context.ts";
import { buildOurs, cpuNow, Generator, rssMb, sleep, startNode, stop } from "./server-procs.ts";
import type { LoadReply } from "./signaling-load.ts";

const PAIRS = 100;
const WINDOW = 8;
const WARMUP_MS = 1_500;
const MEASURE_MS = 5_000;
const JOINS = 40;

/** No rate limit in the way, many sockets from one address: the load generator is one process. */
const LIMITS = {
  SIGNAL_SOCKETS_PER_IP: "20000",
  SIGNAL_MESSAGES_PER_SECOND: "100000",
  SIGNAL_BURST: "100000",
};

interface Instance {
  proc: ChildProcess;
  http: string;
  ws: string;
}

async function startInstance(main: string, env: Record<string, string>): Promise<Instance> {
  const { proc, line } = await startNode(
    [main],
    { PORT: "0", HOST: "127.0.0.1", ...LIMITS, ...env },
    /running at http:\/\//,
  );
  const host = /http:\/\/([^/\s]+)/.exec(line)![1]!;
  return { proc, http: `http://${host}`, ws: `ws://${host}/signal` };
}

/** Waits until the instance says Redis is reachable (it joins the cluster after it listens). */
async function sharing(instance: Instance): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    const health = (await (await fetch(`${instance.http}/healthz`)).json()) as { redis?: string };
    if (health.redis === "up") return;
    await sleep(100);
  }
  throw new Error(`${instance.http} never reached Redis`);
}

/** Cores each named process used between two cpuNow() samples, and the whole machine. */
function coresOf(names: string[], a: ReturnType<typeof cpuNow>, b: ReturnType<typeof cpuNow>): string {
  const s = b.at - a.at;
  const each = names.map((name, i) => `${name} ${round((b.procs[i]! - a.procs[i]!) / s, 2)}`);
  return `${each.join(", ")}; whole machine ${round((b.machineBusy - a.machineBusy) / s, 2)} cores`;
}

/** Relayed messages per second with each pair's sender on `a` and receiver on `b`. */
async function relayRate(
  a: Instance,
  b: Instance,
  room: string,
  procs: Record<string, number>,
): Promise<number> {
  const generator = new Generator();
  try {
    await generator.request({ cmd: "pairs", protocol: "ours", url: a.ws, urlB: b.ws, pairs: PAIRS, room });
    await generator.request({ cmd: "go", window: WINDOW });
    await sleep(WARMUP_MS);
    const count = async () =>
      (await generator.request<Extract<LoadReply, { delivered: number }>>({ cmd: "count" })).delivered;
    const names = [...Object.keys(procs), "load generator"];
    const pids = [...Object.values(procs), generator.proc.pid!];
    const c0 = cpuNow(pids);
    const n0 = await count();
    await sleep(MEASURE_MS);
    const n1 = await count();
    const c1 = cpuNow(pids);
    const rate = (n1 - n0) / (c1.at - c0.at);
    log(
      `${room}: ${Math.round(rate)} msgs/s by ${PAIRS} pairs (${WINDOW} in flight each; ${coresOf(names, c0, c1)})`,
    );
    return rate;
  } finally {
    await generator.close();
  }
}

export async function scaleOutBench(_ctx: BenchContext): Promise<Record<string, unknown>> {
  const redis = await startRedisServer();
  const main = buildOurs();
  const instances: Instance[] = [];
  try {
    const single = await startInstance(main, {});
    instances.push(single);
    const [a, b] = [
      await startInstance(main, { REDIS_URL: redis.url }),
      await startInstance(main, { REDIS_URL: redis.url }),
    ];
    instances.push(a!, b!);
    await Promise.all([sharing(a!), sharing(b!)]);
    log(`two instances share rooms over redis-server ${redis.url} (rss ${round(rssMb(redis.pid), 1)} MB)`);

    const singleRate = await relayRate(single, single, "relay-single", { instance: single.proc.pid! });
    const crossRate = await relayRate(a!, b!, "relay-cross", {
      "instance 1": a!.proc.pid!,
      "instance 2": b!.proc.pid!,
      redis: redis.pid,
    });

    const generator = new Generator();
    let joinMs: number[];
    try {
      ({ joinMs } = await generator.request<Extract<LoadReply, { joinMs: number[] }>>({
        cmd: "joins",
        url: a!.ws,
        urlB: b!.ws,
        room: "joins",
        count: JOINS,
      }));
    } finally {
      await generator.close();
    }
    const redisRss = rssMb(redis.pid);
    log(
      `cross-instance join: p50 ${round(percentile(joinMs, 50), 1)} ms, p95 ${round(percentile(joinMs, 95), 1)} ms ` +
        `over ${joinMs.length}; relay across instances at ${round(crossRate / singleRate, 2)}× one instance; ` +
        `redis rss ${round(redisRss, 1)} MB`,
    );
    return {
      scale_out: {
        instances: 2,
        cross_instance_relay_msgs_per_s: Math.round(crossRate),
        single_instance_relay_msgs_per_s: Math.round(singleRate),
        cross_join_ms: round(percentile(joinMs, 50), 1),
        redis_rss_mb: round(redisRss, 1),
      },
    };
  } finally {
    for (const instance of instances) await stop(instance.proc);
    await redis.stop();
  }
}
