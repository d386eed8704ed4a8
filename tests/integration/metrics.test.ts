// /metrics as a Prometheus scraper sees it (prom-client's exposition): every
// line parses, each server of a process keeps its own counts, the process's
// figures carry their standard names, the cluster's figures carry the
// instance, and a figure that cannot be read is a 500, not a crash.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import type { ClusterStats } from "../../signaling-server/cluster/cluster-stats.ts";
import { Exposition, Metrics } from "../../signaling-server/metrics.ts";
import { createSignalingServer, type SignalingServer } from "../../signaling-server/server.ts";
import { httpGet } from "../helpers/http-get.ts";
import { parsePrometheusText, sampleValue } from "../helpers/prometheus-text.ts";
import { SignalingClient } from "./raw-signaling-client.ts";

const servers: SignalingServer[] = [];
const plain: Server[] = [];
const clients: SignalingClient[] = [];

const get = httpGet;

async function start(): Promise<{ server: SignalingServer; connect: () => Promise<SignalingClient> }> {
  const server = createSignalingServer({ port: 0, gatewayRoom: null });
  servers.push(server);
  await server.ready;
  const url = `${server.address().url.replace("http", "ws")}/signal`;
  return {
    server,
    connect: async () => {
      const c = await SignalingClient.connect(url);
      clients.push(c);
      return c;
    },
  };
}

async function scrape(server: SignalingServer) {
  const res = await get(`${server.address().url}/metrics`);
  expect(res.status).toBe(200);
  expect(res.type).toBe("text/plain; version=0.0.4; charset=utf-8");
  return parsePrometheusText(res.body);
}

/** An Exposition behind a plain HTTP server, as server.ts mounts it. */
async function exposed(exposition: Exposition): Promise<string> {
  const http = createServer((_req, res) => exposition.serve(res));
  plain.push(http);
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(http.address() as AddressInfo).port}/metrics`;
}

afterEach(async () => {
  const open = clients.splice(0);
  for (const c of open) c.ws.terminate();
  await Promise.all(open.map((c) => c.closed));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
  await Promise.all(plain.map((s) => new Promise((resolve) => s.close(resolve))));
});

describe("/metrics (prom-client)", () => {
  it("keeps each server's counts apart in one process, with the process's figures in both", async () => {
    const one = await start();
    const two = await start();
    const [x, y] = await Promise.all([createIdentity(), createIdentity()]);
    const a = await one.connect();
    const b = await one.connect();
    await a.join(x, "room", "a");
    const jb = await b.join(y, "room", "b");
    for (let i = 0; i < 3; i++) a.send({ type: "signal", to: jb.self, data: { i } });
    await b.next((m) => m.type === "signal" && (m.data as { i: number }).i === 2);
    a.sendRaw("{not json");
    await a.next("error");
    await two.connect();

    const m1 = await scrape(one.server);
    const m2 = await scrape(two.server);
    expect(m1.get("spare_signaling_relayed_total")?.type).toBe("counter");
    expect(m1.get("spare_signaling_peers")?.type).toBe("gauge");
    expect(sampleValue(m1, "spare_signaling_relayed_total")).toBe(3);
    expect(sampleValue(m1, "spare_signaling_joins_total")).toBe(2);
    expect(sampleValue(m1, "spare_signaling_peers")).toBe(2);
    expect(sampleValue(m1, "spare_signaling_rooms")).toBe(1);
    expect(sampleValue(m1, "spare_signaling_rejected_total", { reason: "bad-json" })).toBe(1);
    expect(sampleValue(m2, "spare_signaling_relayed_total")).toBe(0);
    expect(sampleValue(m2, "spare_signaling_joins_total")).toBe(0);
    expect(sampleValue(m2, "spare_signaling_sockets")).toBe(1);
    expect(sampleValue(m2, "spare_signaling_peers")).toBe(0);
    expect(m2.get("spare_signaling_rejected_total")?.samples).toEqual([]);
    for (const m of [m1, m2]) {
      expect(sampleValue(m, "process_resident_memory_bytes")).toBeGreaterThan(10 * 1024 * 1024);
      expect(sampleValue(m, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
      expect(m.get("nodejs_eventloop_lag_seconds")?.type).toBe("gauge");
      expect(m.get("nodejs_gc_duration_seconds")?.type).toBe("histogram");
      // The names the bench has always read.
      expect(sampleValue(m, "nodejs_heap_used_bytes")).toBeGreaterThan(0);
      expect(sampleValue(m, "nodejs_heap_total_bytes")).toBeGreaterThan(0);
      expect(sampleValue(m, "nodejs_external_memory_bytes")).toBeGreaterThan(0);
    }
    // Single-instance mode: Redis is not up, and each instance has its own id.
    const ids = [m1, m2].map((m) => m.get("spare_signaling_redis_up")?.samples ?? []);
    for (const s of ids.flat()) expect(s.value).toBe(0);
    if (ids[0]!.length > 0) expect(ids[0]![0]!.labels.instance).not.toBe(ids[1]![0]!.labels.instance);
  });

  it("shows the cluster's figures with the instance, read at each scrape", async () => {
    const stats: ClusterStats = {
      mode: "redis",
      redisUp: true,
      instanceId: "i-1",
      instances: 2,
      remotePeers: 5,
      published: 40,
      delivered: 38,
    };
    const metrics = new Metrics();
    const url = await exposed(
      new Exposition(metrics, {
        gauges: () => ({ connections: 1, sockets: 1, rooms: 1, peers: 1 }),
        cluster: () => stats,
      }),
    );
    let m = parsePrometheusText((await get(url)).body);
    const i1 = { instance: "i-1" };
    expect(sampleValue(m, "spare_signaling_redis_up", i1)).toBe(1);
    expect(sampleValue(m, "spare_signaling_cluster_instances", i1)).toBe(2);
    expect(sampleValue(m, "spare_signaling_remote_peers", i1)).toBe(5);
    expect(m.get("spare_signaling_cluster_published_total")?.type).toBe("counter");
    expect(sampleValue(m, "spare_signaling_cluster_published_total", i1)).toBe(40);
    expect(sampleValue(m, "spare_signaling_cluster_delivered_total", i1)).toBe(38);
    Object.assign(stats, { redisUp: false, instances: 1, remotePeers: 0, published: 41 });
    metrics.relayed += 7;
    m = parsePrometheusText((await get(url)).body);
    expect(sampleValue(m, "spare_signaling_redis_up", i1)).toBe(0);
    expect(sampleValue(m, "spare_signaling_cluster_instances", i1)).toBe(1);
    expect(sampleValue(m, "spare_signaling_remote_peers", i1)).toBe(0);
    expect(sampleValue(m, "spare_signaling_cluster_published_total", i1)).toBe(41);
    expect(sampleValue(m, "spare_signaling_relayed_total")).toBe(7);
    expect(m.get("spare_signaling_redis_up")?.samples).toHaveLength(1);
  });

  it("answers 500 when a figure cannot be read, and scrapes again once it can", async () => {
    let broken = true;
    const url = await exposed(
      new Exposition(new Metrics(), {
        gauges: () => {
          if (broken) throw new Error("the hub is gone");
          return { connections: 0, sockets: 0, rooms: 0, peers: 0 };
        },
      }),
    );
    const failed = await get(url);
    expect(failed.status).toBe(500);
    expect(failed.body).toMatch(/metrics failed: .*the hub is gone/);
    broken = false;
    const ok = await get(url);
    expect(ok.status).toBe(200);
    expect(sampleValue(parsePrometheusText(ok.body), "spare_signaling_sockets")).toBe(0);
  });
});
