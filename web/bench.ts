// A page for `npm run bench`: the same worker, guest and governor as the app,
// without its UI, so a benchmark can boot from scratch, set budgets and read
// statistics directly.

import { createIdentity } from "../core/crypto/identity.ts";
import { ConsoleTail, markCommand } from "../core/guest/guest-console.ts";
import { FRAME_HEADER_BYTES, type PeerChannel, type Protocol } from "../core/net/channels.ts";
import { Mesh } from "../core/net/mesh.ts";
import { randomSession, SignalingClient } from "../core/net/signaling-client.ts";
import { systemClock } from "../core/util/clock.ts";
import { simplePeerLinks } from "../transports/simple-peer-link.ts";
import { standardSockets } from "../transports/websocket.ts";
import type { StartResult, VmStats } from "../worker/api.ts";
import { debianImage, smallImage } from "./guest.ts";
import { VmWorker } from "./vm-worker.ts";

let vm: VmWorker | null = null;
let tail = new ConsoleTail();
let nonce = 1;

const bench = {
  async start(options: {
    cold: boolean;
    budgetPct: number;
    image?: "small" | "debian";
  }): Promise<StartResult> {
    tail = new ConsoleTail();
    vm = new VmWorker();
    const image = options.image === "debian" ? debianImage : smallImage;
    return vm.start(
      { guest: image.source(), states: options.cold ? [] : [image.state()], budgetPct: options.budgetPct },
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

// ---- Data channel measurements between two bench pages (scripts/bench/datachannel.ts)

// Two protocols of the bench's own, on channels the app does not use.
const PING_PROTOCOL: Protocol = { name: "bench-ping", id: 99, version: 1 };
const BULK_PROTOCOL: Protocol = { name: "bench-bulk", id: 98, version: 1 };
const PING = 0;
const PONG = 1;
const BULK_DONE = 2;
const BULK_ANNOUNCE = 3;
let mesh: Mesh | null = null;
let ping: PeerChannel | null = null;
let bulkExpected = 0;
let bulkReceived = 0;
const pongWaiters = new Map<number, () => void>();
let bulkDone: (() => void) | null = null;

function onBulk(remote: string, payload: Uint8Array): void {
  bulkReceived += payload.length + FRAME_HEADER_BYTES;
  if (bulkExpected > 0 && bulkReceived >= bulkExpected) {
    bulkExpected = 0;
    ping?.send(remote, Uint8Array.of(BULK_DONE));
  }
}

function onPing(remote: string, payload: Uint8Array): void {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  if (payload[0] === PING) ping?.send(remote, Uint8Array.from([PONG, ...payload.subarray(1)]));
  else if (payload[0] === PONG) pongWaiters.get(view.getUint32(1))?.();
  else if (payload[0] === BULK_DONE) bulkDone?.();
  else if (payload[0] === BULK_ANNOUNCE) {
    bulkExpected = view.getUint32(1);
    bulkReceived = 0;
  }
}

const net = {
  async join(room: string): Promise<string> {
    const identity = await createIdentity();
    const url = new URL("signal", document.baseURI);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    const signaling = new SignalingClient({
      url: url.href,
      room,
      identity,
      session: randomSession(),
      socketFactory: standardSockets(WebSocket),
      clock: systemClock,
    });
    mesh = new Mesh(signaling, simplePeerLinks(), { clock: systemClock, identity });
    ping = mesh.channel(PING_PROTOCOL);
    ping.on("message", onPing);
    mesh.channel(BULK_PROTOCOL).on("message", onBulk);
    mesh.start();
    signaling.start();
    return signaling.self;
  },
  async waitForLink(): Promise<string> {
    for (;;) {
      const open = mesh?.openLinks() ?? [];
      if (open.length > 0) return open[0]!;
      await new Promise((r) => setTimeout(r, 50));
    }
  },
  /** Round trips of small messages, one at a time. */
  async ping(remote: string, count: number): Promise<number[]> {
    const rtts: number[] = [];
    for (let seq = 0; seq < count; seq++) {
      const message = new Uint8Array(5);
      message[0] = PING;
      new DataView(message.buffer).setUint32(1, seq);
      const t0 = performance.now();
      await new Promise<void>((resolve) => {
        pongWaiters.set(seq, resolve);
        ping?.send(remote, message);
      });
      pongWaiters.delete(seq);
      rtts.push(performance.now() - t0);
    }
    return rtts;
  },
  /** Sends `totalBytes` in chunks, keeping the send buffer under `highWaterBytes`; resolves with ms until the receiver has them all. */
  async bulk(
    remote: string,
    totalBytes: number,
    chunkBytes: number,
    highWaterBytes: number,
  ): Promise<number> {
    if (!mesh || !ping) throw new Error("not joined");
    const bulk = mesh.channel(BULK_PROTOCOL);
    const announce = new Uint8Array(5);
    announce[0] = BULK_ANNOUNCE;
    new DataView(announce.buffer).setUint32(1, totalBytes);
    ping.send(remote, announce);
    // Each frame on the wire is `chunkBytes` long, header included.
    const chunk = new Uint8Array(chunkBytes - FRAME_HEADER_BYTES);
    const done = new Promise<void>((resolve) => {
      bulkDone = resolve;
    });
    const t0 = performance.now();
    for (let sent = 0; sent < totalBytes; ) {
      if (mesh.bufferedBytes(remote) > highWaterBytes || !bulk.send(remote, chunk)) {
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      sent += chunkBytes;
    }
    await done;
    return performance.now() - t0;
  },
};

(globalThis as unknown as { spareNet: typeof net }).spareNet = net;
