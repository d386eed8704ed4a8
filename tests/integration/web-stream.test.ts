// A page under /vm/ streams: the visitor's tab gets the head and the first bytes
// of an answer as the host sends them, not once the whole body is in (the
// service worker answers with a stream fed from the page, web/web-gateway.ts).
// An answer cut after its head ends its stream with an error, never as a
// complete body, and a stream the reader gives up stops its host's request.
import { afterEach, describe, expect, it } from "vitest";
import { MemoryNetwork, MemorySignalingHub } from "../../core/net/memory-transport.ts";
import type { WebBodySink, WebHead, WebRequest } from "../../core/vm/web-client.ts";
import { eventually } from "../helpers/eventually.ts";
import { CrashableNetwork } from "./crashable-network.ts";
import { drips, running } from "./fake-engine.ts";
import { addPeer, hostOf, type Peer, setFile, settled, stopAll } from "./vm-peers.ts";

afterEach(() => {
  drips.length = 0;
  return stopAll();
});

const GET = (target: string): WebRequest => ({ method: "GET", target, headers: [], body: new Uint8Array() });

async function servingVm(network: MemoryNetwork = new MemoryNetwork()) {
  const hub = new MemorySignalingHub();
  const owner = await addPeer(hub, network);
  const a = await addPeer(hub, network, { contributing: true });
  const visitor = await addPeer(hub, network);
  await settled([owner, a, visitor]);
  const vmId = await owner.vm.owner.create("site");
  await eventually("running", () => owner.vm.owner.get(vmId)?.state === "running");
  await setFile(owner, a, vmId, "index.html", "<h1>hello-web</h1>");
  await typeLine(owner, vmId, "httpd");
  await owner.vm.web.book.publish(vmId, 80, "blog");
  await eventually("the visitor sees it published", () => visitor.vm.web.book.isPublished(vmId, 80));
  expect(hostOf(owner, vmId)).toBe(a.node.self);
  return { visitor, vmId, host: a };
}

async function typeLine(owner: Peer, vmId: string, line: string): Promise<void> {
  const session = owner.vm.owner.attach(vmId, { output: () => {}, transcript: () => {}, status: () => {} });
  await eventually("attached", () => session.host() !== null);
  session.input(new TextEncoder().encode(`${line}\r`));
  await eventually("the guest's httpd listens", () => [...running].some((m) => m.listening.has(80)));
  session.detach();
}

/** A sink that writes down what it is given. */
function recorder() {
  const seen = { head: null as WebHead | null, body: "", end: undefined as string | null | undefined };
  const sink: WebBodySink = {
    head: (h) => {
      seen.head = h;
    },
    chunk: (bytes) => {
      seen.body += new TextDecoder().decode(bytes);
    },
    end: (error) => {
      seen.end = error;
    },
  };
  return { seen, sink };
}

describe("web hosting, streamed", () => {
  it("gives the head and the first bytes before the guest has sent the rest", async () => {
    const { visitor, vmId } = await servingVm();
    const { seen, sink } = recorder();
    await visitor.vm.web.client.stream(vmId, 80, GET("/drip"), sink);
    await eventually("the first bytes arrive", () => seen.body === "first");
    expect(seen.head?.status).toBe(200);
    expect(seen.end).toBeUndefined();
    expect(drips).toHaveLength(1);
    drips[0]!();
    await eventually("the body is complete", () => seen.end === null);
    expect(seen.body).toBe("first-rest");
  });

  it("a whole small page and a gateway's own refusal come through the same way", async () => {
    const { visitor, vmId } = await servingVm();
    const page = recorder();
    await visitor.vm.web.client.stream(vmId, 80, GET("/"), page.sink);
    await eventually("complete", () => page.seen.end === null);
    expect(page.seen.body).toBe("<h1>hello-web</h1>");
    const refused = recorder();
    await visitor.vm.web.client.stream(vmId, 8080, GET("/"), refused.sink);
    expect(refused.seen.head?.status).toBe(404);
    expect(refused.seen.body).toMatch(/not published/);
    expect(refused.seen.end).toBeNull();
  });

  it("an answer cut after its head (its host is gone) ends its stream with an error, not tried again", async () => {
    const network = new CrashableNetwork();
    const { visitor, vmId, host } = await servingVm(network);
    const { seen, sink } = recorder();
    await visitor.vm.web.client.stream(vmId, 80, GET("/drip"), sink);
    await eventually("the first bytes arrive", () => seen.body === "first");
    network.crash(host.node.self);
    // The link is seen lost by its keepalive (a pinned link is pinged often).
    await eventually("ended", () => seen.end !== undefined, { timeoutMs: 30_000 });
    expect(seen.end).toMatch(/^503: the VM's host went away/);
    expect(seen.body).toBe("first");
  }, 40_000);

  it("an answer the guest cuts short ends its stream with the host's error", async () => {
    const { visitor, vmId } = await servingVm();
    const { seen, sink } = recorder();
    await visitor.vm.web.client.stream(vmId, 80, GET("/drip"), sink);
    await eventually("the first bytes arrive", () => seen.body === "first");
    drips[0]!(true);
    await eventually("ended", () => seen.end !== undefined);
    expect(seen.end).toMatch(/^502: /);
    expect(seen.body).toBe("first");
  });

  it("a stream the reader gives up hears nothing more", async () => {
    const { visitor, vmId } = await servingVm();
    const { seen, sink } = recorder();
    const stream = await visitor.vm.web.client.stream(vmId, 80, GET("/drip"), sink);
    await eventually("the first bytes arrive", () => seen.body === "first");
    stream.cancel();
    drips[0]!();
    // A later request is answered in full, so whatever the host sent for the cancelled one has come.
    const after = recorder();
    await visitor.vm.web.client.stream(vmId, 80, GET("/"), after.sink);
    await eventually("the next page", () => after.seen.end === null);
    expect(seen.body).toBe("first");
    expect(seen.end).toBeUndefined();
  });
});
