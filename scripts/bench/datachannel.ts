// Issue 3's data channel numbers: two Chromium pages linked by the app's own mesh
// (simple-peer over WebRTC, signaled by our server): round-trip times of small
// messages and bulk throughput with backpressure.
import type { Page } from "playwright-core";
import { type BenchContext, callPage, log, percentile, round } from "./context.ts";

interface NetApi {
  join(room: string): Promise<string>;
  waitForLink(): Promise<string>;
  ping(remote: string, count: number): Promise<number[]>;
  bulk(remote: string, totalBytes: number, chunkBytes: number, highWaterBytes: number): Promise<number>;
}

function call<K extends keyof NetApi>(page: Page, method: K, ...args: Parameters<NetApi[K]>) {
  return callPage<Awaited<ReturnType<NetApi[K]>>>(page, "spareNet", method, args);
}

const BULK_BYTES = 64 * 1024 * 1024;
const CHUNK_BYTES = 64 * 1024;
const HIGH_WATER_BYTES = 4 * 1024 * 1024;

export async function datachannelBench(ctx: BenchContext): Promise<Record<string, unknown>> {
  const a = await ctx.newPage("bench.html");
  const b = await ctx.newPage("bench.html");
  try {
    const room = `bench-dc-${Date.now()}`;
    await call(a, "join", room);
    const bAddress = await call(b, "join", room);
    const remote = await call(a, "waitForLink");
    if (remote !== bAddress) throw new Error("linked to the wrong peer");
    await call(b, "waitForLink");
    await call(a, "ping", remote, 20); // warm up
    const rtts = await call(a, "ping", remote, 300);
    log(`datachannel rtt p50 ${round(percentile(rtts, 50), 2)} ms, p95 ${round(percentile(rtts, 95), 2)} ms`);
    // A first transfer warms up the connection (SCTP's congestion window, the JIT); then measure.
    await call(a, "bulk", remote, BULK_BYTES / 4, CHUNK_BYTES, HIGH_WATER_BYTES);
    const ms = await call(a, "bulk", remote, BULK_BYTES, CHUNK_BYTES, HIGH_WATER_BYTES);
    const mbPerS = BULK_BYTES / 1024 / 1024 / (ms / 1000);
    log(`datachannel bulk ${BULK_BYTES / 1024 / 1024} MiB in ${Math.round(ms)} ms: ${round(mbPerS, 1)} MB/s`);
    return {
      datachannel: {
        rtt_ms_p50: round(percentile(rtts, 50), 2),
        rtt_ms_p95: round(percentile(rtts, 95), 2),
        mb_per_s: round(mbPerS, 1),
      },
    };
  } finally {
    await a.context().close();
    await b.context().close();
  }
}
