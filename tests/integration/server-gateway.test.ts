// The server's web gateway (/vm/…) against hostile and careless clients, with
// no VM behind it: an upload past the limit, a flood from one address, a client
// that never finishes its request, and an address nothing is published at.
// Each gets a clear HTTP answer within the limits, and the server stays up.
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createSignalingServer } from "../../signaling-server/server.ts";

let server: ReturnType<typeof createSignalingServer>;
let base: string;

beforeAll(async () => {
  server = createSignalingServer({ port: 0, gatewayRoom: "gateway-test", headerTimeoutMs: 1000 });
  await server.ready;
  base = server.address().url;
});

afterAll(async () => {
  await server?.close();
});

describe("the server's web gateway", () => {
  it("answers an upload past the limit with 413, at once", async () => {
    const t0 = Date.now();
    const res = await fetch(`${base}/vm/someone/`, { method: "POST", body: new Uint8Array(200 * 1024) });
    expect(res.status).toBe(413);
    expect(await res.text()).toMatch(/request bodies are limited to 64 KiB/);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it("answers a flood from one address with 429 and Retry-After, and nothing published with 404", async () => {
    const answers = await Promise.all(
      Array.from({ length: 250 }, () =>
        fetch(`${base}/vm/nothing-here/`).then(async (r) => ({
          status: r.status,
          retryAfter: r.headers.get("retry-after"),
          text: await r.text(),
        })),
      ),
    );
    const limited = answers.filter((a) => a.status === 429);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]!.retryAfter).toBe("1");
    const rest = answers.filter((a) => a.status !== 429);
    expect(rest.length).toBeGreaterThan(0);
    for (const a of rest) {
      expect(a.status).toBe(404);
      expect(a.text).toMatch(/nothing is published at nothing-here/);
    }
  }, 30_000);

  it("closes a client that never finishes its request, and still serves everyone else", async () => {
    const socket = connect(Number(new URL(base).port), "127.0.0.1");
    const reply = await new Promise<string>((resolve) => {
      let text = "";
      socket.on("connect", () => socket.write("GET /vm/someone/ HTTP/1.1\r\nHost: x\r\n"));
      socket.on("data", (chunk) => {
        text += chunk.toString();
      });
      socket.on("close", () => resolve(text));
    });
    expect(reply).toMatch(/^HTTP\/1\.1 408/);
    const health = await fetch(`${base}/healthz`);
    expect(health.status).toBe(200);
  }, 15_000);
});
