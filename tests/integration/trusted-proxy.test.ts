// Behind a reverse proxy every socket comes from the proxy's address, so the
// per-address limits must count by the client's address in X-Forwarded-For —
// but only on connections from a proxy the operator trusts
// (SIGNAL_TRUSTED_PROXIES); from anyone else the header is ignored, so no
// client can spoof its way past socketsPerIp.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { trustedProxiesFromEnv } from "../../signaling-server/client-address.ts";
import { LimitError } from "../../signaling-server/limits.ts";
import {
  createSignalingServer,
  type SignalingServer,
  type SignalingServerOptions,
} from "../../signaling-server/server.ts";
import { eventually } from "../helpers/eventually.ts";
import { SignalingClient } from "./raw-signaling-client.ts";

const servers: SignalingServer[] = [];
const clients: SignalingClient[] = [];

async function start(options: SignalingServerOptions) {
  const server = createSignalingServer({ port: 0, socketsPerIp: 2, ...options });
  servers.push(server);
  await server.ready;
  const url = `${server.address().url.replace("http", "ws")}/signal`;
  /** A socket from 127.0.0.1 (the "proxy") saying it forwards for `forwardedFor`, if given. */
  const connect = async (forwardedFor?: string) => {
    const headers: Record<string, string> =
      forwardedFor === undefined ? {} : { "X-Forwarded-For": forwardedFor };
    const c = await SignalingClient.connect(url, { headers });
    clients.push(c);
    return c;
  };
  return { server, connect };
}

afterEach(async () => {
  const open = clients.splice(0);
  for (const c of open) c.ws.terminate();
  await Promise.all(open.map((c) => c.closed));
});

afterAll(async () => {
  await Promise.all(servers.map((s) => s.close()));
});

const REFUSED = /HTTP 429 too-many-sockets/;

describe("trusted proxies (X-Forwarded-For)", () => {
  it("from a trusted proxy, counts each forwarded client on its own and limits each", async () => {
    const s = await start({ trustedProxies: ["127.0.0.1"] });
    await s.connect("203.0.113.1");
    await s.connect("203.0.113.1");
    await expect(s.connect("203.0.113.1")).rejects.toThrow(REFUSED);
    // Other clients of the same proxy are not held back by that one.
    await s.connect("203.0.113.2");
    await s.connect("203.0.113.2");
    await expect(s.connect("203.0.113.2")).rejects.toThrow(REFUSED);
    expect(s.server.stats()).toMatchObject({ admitted: 4, ips: 2 });
  });

  it("takes the right-most address that is not itself a trusted proxy: a client cannot prepend its way out", async () => {
    const s = await start({ trustedProxies: ["127.0.0.1", "10.0.0.0/8"] });
    // The client wrote "198.51.100.x"; the outer proxy appended what it saw
    // (203.0.113.7), an inner trusted proxy (10.1.2.3) appended the outer one.
    await s.connect("198.51.100.1, 203.0.113.7, 10.1.2.3");
    await s.connect("198.51.100.2, 203.0.113.7");
    await expect(s.connect("198.51.100.3, 203.0.113.7, 10.9.9.9")).rejects.toThrow(REFUSED);
    expect(s.server.stats()).toMatchObject({ admitted: 2, ips: 1 });
  });

  it("counts IPv6 clients by their /64, as it does direct ones", async () => {
    const s = await start({ trustedProxies: ["loopback"] });
    await s.connect("2001:db8:1:2::5");
    await s.connect("2001:db8:1:2:ffff::6");
    await expect(s.connect("2001:db8:1:2::7")).rejects.toThrow(REFUSED);
    await s.connect("2001:db8:1:3::5");
    expect(s.server.stats()).toMatchObject({ admitted: 3, ips: 2 });
  });

  it("ignores X-Forwarded-For when no proxy is trusted: every socket counts as its own address", async () => {
    const s = await start({});
    await s.connect("203.0.113.1");
    await s.connect("203.0.113.2");
    await expect(s.connect("203.0.113.3")).rejects.toThrow(REFUSED);
    expect(s.server.stats()).toMatchObject({ admitted: 2, ips: 1 });
  });

  it("ignores X-Forwarded-For from a peer that is not a trusted proxy", async () => {
    const s = await start({ trustedProxies: ["10.0.0.0/8", "::1"] });
    await s.connect("203.0.113.1");
    await s.connect();
    await expect(s.connect("203.0.113.3")).rejects.toThrow(REFUSED);
    expect(s.server.stats()).toMatchObject({ admitted: 2, ips: 1 });
  });

  it("survives a header of many entries or junk, counting junk as the proxy itself", async () => {
    const s = await start({ trustedProxies: ["127.0.0.1"] });
    const many = Array.from({ length: 800 }, (_, i) => `198.51.${i % 256}.${i % 200}`).join(", ");
    await s.connect(many);
    // Not an address: it cannot become a fresh key per socket.
    await s.connect("not-an-address");
    await s.connect(" , ,,");
    await expect(s.connect("::::zz, 999.1.1.1")).rejects.toThrow(REFUSED);
    await expect(s.connect("%00\u00ff")).rejects.toThrow(REFUSED);
    // Every entry trusted: the furthest one is the client (here the proxy's own address).
    await expect(s.connect("127.0.0.1, 127.0.0.1")).rejects.toThrow(REFUSED);
    expect(s.server.stats()).toMatchObject({ admitted: 3, ips: 2 });
    for (const c of clients.splice(0)) c.close();
    await eventually("all released", () => s.server.stats().admitted === 0);
    await s.connect("203.0.113.1");
  });

  it("refuses a bad setting at the start, naming it", () => {
    expect(() => createSignalingServer({ port: 0, trustedProxies: ["10.0.0.0/33"] })).toThrow(LimitError);
    expect(() => createSignalingServer({ port: 0, trustedProxies: ["nowhere"] })).toThrow(/trustedProxies/);
    expect(() => trustedProxiesFromEnv({ SIGNAL_TRUSTED_PROXIES: "127.0.0.1, bogus" })).toThrow(
      /SIGNAL_TRUSTED_PROXIES.*bogus/,
    );
    expect(
      trustedProxiesFromEnv({ SIGNAL_TRUSTED_PROXIES: " 127.0.0.1 , 10.0.0.0/8,::1 ,loopback" }),
    ).toEqual(["127.0.0.1", "10.0.0.0/8", "::1", "loopback"]);
    expect(trustedProxiesFromEnv({})).toBeUndefined();
    expect(trustedProxiesFromEnv({ SIGNAL_TRUSTED_PROXIES: "  " })).toBeUndefined();
  });
});
