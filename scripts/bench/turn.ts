// Issue 13's TURN numbers: two Node peers (simple-peer on node-datachannel, the
// links the headless contributor uses) linked once directly and once only
// through a real coturn on loopback (both ends relay-only, so every packet goes
// peer → relay → relay → peer), with the credentials the signaling server hands
// out. Same run, same machine: round trips of small messages and bulk throughput.
import type { IceServer } from "../../core/net/ice-servers.ts";
import type { Link, LinkEvents } from "../../core/net/transport.ts";
import { turnCredentials } from "../../signaling-server/turn-credentials.ts";
import { type Coturn, startCoturn } from "../../tests/helpers/coturn.ts";
import { forNodeDatachannel } from "../../transports/node-peer.ts";
import { simplePeerLinks } from "../../transports/simple-peer-link.ts";
import { type BenchContext, log, percentile, round } from "./context.ts";

const PINGS = 300;
const BULK_BYTES = 32 * 1024 * 1024;
const CHUNK_BYTES = 16 * 1024;
const HIGH_WATER_BYTES = 1024 * 1024;
const OPEN_TIMEOUT_MS = 20_000;

interface End {
  link: Link;
  opened: Promise<void>;
  onMessage: (data: Uint8Array) => void;
  closed: boolean;
}

/** Two links signalled to each other in this process; resolves once both are open. */
async function linkPair(iceServers: IceServer[], relayOnly: boolean): Promise<[End, End]> {
  const factory = simplePeerLinks({ relayOnly });
  const ends: End[] = [];
  const make = (initiator: boolean, remote: string, other: () => End): End => {
    let open: () => void = () => {};
    let fail: (err: Error) => void = () => {};
    const end = {
      opened: new Promise<void>((resolve, reject) => {
        open = resolve;
        fail = reject;
      }),
      onMessage: (_data: Uint8Array) => {},
      closed: false,
    } as End;
    const events: LinkEvents = {
      open: () => open(),
      message: (data) => end.onMessage(data),
      close: (reason) => {
        end.closed = true;
        fail(new Error(`link closed: ${reason}`));
      },
      signal: (data) => queueMicrotask(() => other().link.signal(data)),
    };
    end.link = factory.create({ remote, initiator, iceServers: forNodeDatachannel(iceServers), events });
    return end;
  };
  ends.push(make(true, `${"b".repeat(32)}.bench`, () => ends[1]!));
  ends.push(make(false, `${"a".repeat(32)}.bench`, () => ends[0]!));
  const [a, b] = ends as [End, End];
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no link in ${OPEN_TIMEOUT_MS} ms`)), OPEN_TIMEOUT_MS);
  });
  try {
    await Promise.race([Promise.all([a.opened, b.opened]), timeout]);
  } catch (err) {
    a.link.close();
    b.link.close();
    throw err;
  } finally {
    clearTimeout(timer);
  }
  return [a, b];
}

async function pingTimes(a: End, b: End, count: number): Promise<number[]> {
  b.onMessage = (data) => b.link.send(data);
  const times: number[] = [];
  for (let i = 0; i < count; i++) {
    const sent = performance.now();
    await new Promise<void>((resolve) => {
      a.onMessage = () => resolve();
      a.link.send(new Uint8Array([i & 255]));
    });
    times.push(performance.now() - sent);
  }
  return times;
}

/** Sends `totalBytes` from a to b, keeping a's queue under the high-water mark; ms until b has it all. */
async function bulkMs(a: End, b: End, totalBytes: number): Promise<number> {
  let received = 0;
  const started = performance.now();
  const done = new Promise<void>((resolve) => {
    b.onMessage = (data) => {
      received += data.byteLength;
      if (received >= totalBytes) resolve();
    };
  });
  const chunk = new Uint8Array(CHUNK_BYTES);
  let sent = 0;
  while (sent < totalBytes) {
    if (a.closed) throw new Error("link closed during the transfer");
    if (a.link.bufferedBytes() > HIGH_WATER_BYTES) {
      await new Promise((r) => setTimeout(r, 1));
      continue;
    }
    if (a.link.send(chunk)) sent += CHUNK_BYTES;
    else await new Promise((r) => setTimeout(r, 1));
  }
  await done;
  return performance.now() - started;
}

async function measure(
  name: string,
  iceServers: IceServer[],
  relayOnly: boolean,
): Promise<{ rtt: number; mbPerS: number; route: string }> {
  const [a, b] = await linkPair(iceServers, relayOnly);
  try {
    const route = (await a.link.route?.()) ?? "unknown";
    await pingTimes(a, b, 20); // warm up
    const rtts = await pingTimes(a, b, PINGS);
    await bulkMs(a, b, BULK_BYTES / 4); // SCTP's window and the JIT
    const ms = await bulkMs(a, b, BULK_BYTES);
    const mbPerS = BULK_BYTES / 1024 / 1024 / (ms / 1000);
    const rtt = percentile(rtts, 50);
    log(
      `turn ${name} (${route}): rtt p50 ${round(rtt, 2)} ms, ${BULK_BYTES / 1024 / 1024} MiB in ${Math.round(ms)} ms: ${round(mbPerS, 1)} MB/s`,
    );
    return { rtt, mbPerS, route };
  } finally {
    a.link.close();
    b.link.close();
  }
}

export async function turnBench(_ctx: BenchContext): Promise<Record<string, unknown>> {
  let coturn: Coturn | null = null;
  try {
    coturn = await startCoturn();
    const expiryS = Math.floor(Date.now() / 1000) + 600;
    const turn: IceServer = {
      urls: [coturn.url],
      ...turnCredentials(coturn.secret, `${"c".repeat(32)}.bench`, expiryS),
    };
    const direct = await measure("direct", [], false);
    const relayed = await measure("relayed", [turn], true);
    if (relayed.route !== "relayed") throw new Error(`the relay-only link reports route ${relayed.route}`);
    return {
      turn: {
        relayed_rtt_ms_p50: round(relayed.rtt, 2),
        relayed_mb_per_s: round(relayed.mbPerS, 1),
        direct_rtt_ms_p50: round(direct.rtt, 2),
        direct_mb_per_s: round(direct.mbPerS, 1),
      },
    };
  } finally {
    await coturn?.stop();
  }
}
