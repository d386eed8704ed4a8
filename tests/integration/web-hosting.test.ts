// A VM serves the web: its owner publishes a port, and any peer's request for it
// goes over the mesh to whichever host runs the VM now, into the guest and back.
// Hostile and broken cases get a clear HTTP status within the limits: a port not
// published (or published by someone else), a guest that never answers, an
// answer too large, a flood, an oversized upload. The address follows a move.
import { afterEach, describe, expect, it } from "vitest";
import { signEntry } from "../../core/crypto/signed.ts";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { WebRequest, WebResponse } from "../../core/vm/web-client.ts";
import { WEB_PORT_KIND, webPortKey } from "../../core/web/web-records.ts";
import { eventually } from "../helpers/eventually.ts";
import { CrashableNetwork } from "./crashable-network.ts";
import { running } from "./fake-engine.ts";
import { addPeer, hostOf, ownerHeld, type Peer, setFile, settled, stopAll } from "./vm-peers.ts";

afterEach(stopAll);

const GET = (target: string): WebRequest => ({ method: "GET", target, headers: [], body: new Uint8Array() });
const text = (r: WebResponse) => new TextDecoder().decode(r.body);
const LIMITS = { firstByteMs: 300, perAskerPerS: 5, perAskerBurst: 10 };

async function servingVm(network: MemoryNetwork = new MemoryNetwork()) {
  const hub = new MemorySignalingHub();
  const owner = await addPeer(hub, network);
  const a = await addPeer(hub, network, { contributing: true, webLimits: LIMITS });
  const b = await addPeer(hub, network, { contributing: true, webLimits: LIMITS });
  const visitor = await addPeer(hub, network);
  await settled([owner, a, b, visitor]);
  const vmId = await owner.vm.owner.create("site");
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  const host = hostOf(owner, vmId) === a.node.self ? a : b;
  await setFile(owner, host, vmId, "index.html", "<h1>hello-web</h1>");
  await typeLine(owner, vmId, "httpd");
  await owner.vm.web.book.publish(vmId, 80, "blog");
  await eventually("the visitor sees it published", () => visitor.vm.web.book.isPublished(vmId, 80));
  return { owner, a, b, visitor, vmId, host, other: host === a ? b : a };
}

async function typeLine(owner: Peer, vmId: string, line: string): Promise<void> {
  const session = owner.vm.owner.attach(vmId, { output: () => {}, transcript: () => {}, status: () => {} });
  await eventually("attached", () => session.host() !== null);
  session.input(new TextEncoder().encode(`${line}\r`));
  await eventually("the guest's httpd listens", () => [...running].some((m) => m.listening.has(80)));
  session.detach();
}

describe("web hosting", () => {
  it("serves a published port to any peer, by VM id and by its unique name", async () => {
    const { visitor, vmId } = await servingVm();
    const r = await visitor.vm.web.client.fetch(vmId, 80, GET("/"));
    expect(r.status).toBe(200);
    expect(text(r)).toBe("<h1>hello-web</h1>");
    expect(r.headers).toContainEqual(["Content-Type", "text/html"]);
    expect((await visitor.vm.web.book.resolve("blog"))?.vmId).toBe(vmId);
    expect((await visitor.vm.web.client.fetch(vmId, 80, GET("/missing"))).status).toBe(404);
    expect(text(await visitor.vm.web.client.fetch(vmId, 80, GET("/chunked")))).toBe("abcde");
  });

  it("refuses ports that are not published, or published by anyone but the owner", async () => {
    const { owner, visitor, vmId } = await servingVm();
    const other = await visitor.vm.web.client.fetch(vmId, 8080, GET("/"));
    expect(other.status).toBe(404);
    expect(text(other)).toMatch(/not published/);
    // A stranger cannot publish the owner's VM, nor does its own record of it count.
    await expect(visitor.vm.web.book.publish(vmId, 8080, "mine")).rejects.toThrow(/owner/);
    const forged = { vmId, port: 8080, name: "mine", published: true, updatedAt: Date.now() };
    await visitor.node.store.put(
      "web",
      webPortKey(vmId, 8080),
      await signEntry(visitor.identity, WEB_PORT_KIND, forged),
    );
    expect(await owner.vm.web.book.isPublished(vmId, 8080)).toBe(false);
    expect((await visitor.vm.web.client.fetch(vmId, 8080, GET("/"))).status).toBe(404);
    // The owner unpublishes: the page is gone for everyone.
    await owner.vm.web.book.publish(vmId, 80, "blog", false);
    await eventually(
      "unpublished everywhere",
      async () => (await visitor.vm.web.client.fetch(vmId, 80, GET("/"))).status === 404,
    );
  });

  it("a guest that never answers, an answer too large, a flood and an oversized upload get clear errors", async () => {
    const { visitor, vmId } = await servingVm();
    const hang = await visitor.vm.web.client.fetch(vmId, 80, GET("/hang"));
    expect(hang.status).toBe(504);
    const huge = await visitor.vm.web.client.fetch(vmId, 80, GET("/huge"));
    expect(huge.status).toBe(502);
    expect(text(huge)).toMatch(/too large/);
    const upload = await visitor.vm.web.client.fetch(vmId, 80, {
      ...GET("/"),
      method: "POST",
      body: new Uint8Array(65 * 1024),
    });
    expect(upload.status).toBe(413);
    const flood = await Promise.all(
      Array.from({ length: 30 }, () => visitor.vm.web.client.fetch(vmId, 80, GET("/"))),
    );
    const statuses = flood.map((r) => r.status);
    expect(statuses.filter((s) => s === 429).length).toBeGreaterThan(0);
    expect(statuses.every((s) => s === 200 || s === 429 || s === 503)).toBe(true);
    // The host is still up and serving.
    await eventually(
      "serving again",
      async () => (await visitor.vm.web.client.fetch(vmId, 80, GET("/"))).status === 200,
      { timeoutMs: 5000 },
    );
  });

  it("the address follows the VM when it moves", async () => {
    const { owner, visitor, vmId, other } = await servingVm();
    await owner.vm.owner.move(vmId);
    await eventually(
      "moved",
      () => owner.vm.owner.get(vmId)?.state === "running" && hostOf(owner, vmId) === other.node.self,
    );
    await eventually("served from the new host", async () => {
      const r = await visitor.vm.web.client.fetch(vmId, 80, GET("/"));
      return r.status === 200 && text(r) === "<h1>hello-web</h1>";
    });
  });

  it("a request made as its host crashes is answered by the new host, in that one fetch", async () => {
    const network = new CrashableNetwork();
    const { owner, visitor, vmId, host, other } = await servingVm(network);
    expect((await visitor.vm.web.client.fetch(vmId, 80, GET("/"))).status).toBe(200);
    // The owner holds a checkpoint with httpd running (what the new host restores).
    const recorded = async () =>
      Math.max(0, ...(await ownerHeld(owner, vmId)).filter((c) => c.entry).map((c) => c.seq));
    const before = await recorded();
    await setFile(owner, host, vmId, "mark", "after-httpd");
    await eventually("a checkpoint after httpd started", async () => (await recorded()) > before);
    network.crash(host.node.self);
    const t0 = Date.now();
    const r = await visitor.vm.web.client.fetch(vmId, 80, GET("/"));
    expect(r.status).toBe(200);
    expect(text(r)).toBe("<h1>hello-web</h1>");
    expect(hostOf(owner, vmId)).toBe(other.node.self);
    expect(Date.now() - t0).toBeLessThan(10_000);
  }, 30_000);

  it("a POST is not sent again once a host may have passed it to the guest", async () => {
    const network = new CrashableNetwork();
    const { visitor, vmId, host } = await servingVm(network);
    network.crash(host.node.self);
    const r = await visitor.vm.web.client.fetch(vmId, 80, { ...GET("/"), method: "POST" });
    expect(r.status).toBe(503);
    expect(r.headers).toContainEqual(["Retry-After", "2"]);
  }, 30_000);
});
