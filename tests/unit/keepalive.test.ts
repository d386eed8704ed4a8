// The keepalive on a fake link: a pinned peer that vanishes is dropped in about
// 2 s; one that answers is kept however late this side's own timers run (a
// hidden tab's once a minute, a busy tab's seconds late).
import { describe, expect, it } from "vitest";
import type { PeerChannel } from "../../core/net/channels.ts";
import { Keepalive, MESH_PROTOCOL } from "../../core/net/keepalive.ts";
import { type LinkEntry, LinkTable } from "../../core/net/link-table.ts";
import type { Link } from "../../core/net/transport.ts";
import { type Clock, ManualClock } from "../../core/util/clock.ts";

const HOST = "host-peer/s1";

/** A keepalive with one open link to HOST; `answering` says whether HOST answers pings (when delivered). */
function setUp(clock: Clock, manual: ManualClock, pinned = true) {
  const table = new LinkTable();
  const entry: LinkEntry = {
    remote: HOST,
    attempt: "a",
    initiator: true,
    link: {} as Link,
    state: "open",
    lastHeardMs: manual.nowMs(),
    pingSentMs: null,
    lastPingMs: 0,
    rttMs: null,
    cancelTimeout: null,
    auth: null,
  };
  table.add(entry);
  let handler: ((remote: string, payload: Uint8Array) => void) | null = null;
  const pending: Uint8Array[] = [];
  const state = { answering: true, queue: false, dropped: null as number | null };
  /** HOST's answer arrives: the mesh marks the link heard, then the keepalive reads it. */
  const deliver = (payload: Uint8Array) => {
    entry.lastHeardMs = manual.nowMs();
    handler?.(HOST, payload);
  };
  const channel: PeerChannel = {
    protocol: MESH_PROTOCOL,
    send: (_remote, payload) => {
      if (payload[0] === 0 && state.answering) {
        if (state.queue) pending.push(Uint8Array.of(1));
        else deliver(Uint8Array.of(1));
      }
      return true;
    },
    broadcast: () => 0,
    on: (_event, h) => {
      handler = h;
      return () => {};
    },
  };
  const keepalive = new Keepalive(
    channel,
    {
      links: table,
      isPinned: () => pinned,
      silent: (e) => {
        state.dropped = manual.nowMs();
        table.remove(e);
      },
    },
    { clock, intervalMs: 5000, silentTimeoutMs: 15_000 },
  );
  keepalive.start();
  const flushQueued = () => {
    for (const p of pending.splice(0)) deliver(p);
  };
  return { keepalive, state, table, flushQueued };
}

/** A clock whose timers fire only on whole minutes, as in a hidden tab under intensive throttling. */
function minuteAligned(manual: ManualClock): Clock {
  return {
    nowMs: () => manual.nowMs(),
    after: (ms, fn) => {
      const due = manual.nowMs() + ms;
      return manual.after(Math.ceil(due / 60_000) * 60_000 - manual.nowMs(), fn);
    },
  };
}

describe("keepalive", () => {
  it("drops a pinned peer that vanishes without a word in about 2 s, not before 1.5 s", async () => {
    const manual = new ManualClock();
    const { state, keepalive } = setUp(manual, manual);
    await manual.advance(10_000);
    expect(state.dropped).toBeNull();
    state.answering = false; // the host's browser is killed at 10 000 ms
    const goneAt = manual.nowMs();
    await manual.advance(5000);
    expect(state.dropped).not.toBeNull();
    const detectMs = state.dropped! - goneAt;
    expect(detectMs).toBeGreaterThanOrEqual(1500);
    expect(detectMs).toBeLessThanOrEqual(2100);
    keepalive.stop();
  });

  it("keeps a peer that answers while this side's timers fire once a minute (hidden tab)", async () => {
    const manual = new ManualClock();
    const { state, keepalive } = setUp(minuteAligned(manual), manual);
    await manual.advance(10 * 60_000);
    expect(state.dropped).toBeNull();
    keepalive.stop();
  });

  it("keeps an unpinned peer that answers while this side's timers fire once a minute", async () => {
    const manual = new ManualClock();
    const { state, keepalive } = setUp(minuteAligned(manual), manual, false);
    await manual.advance(10 * 60_000);
    expect(state.dropped).toBeNull();
    keepalive.stop();
  });

  it("a tick seconds late (this tab was busy) first lets the answers queued behind it arrive", async () => {
    const manual = new ManualClock();
    let busyUntil = 0;
    let afterBusy = () => {};
    // While this tab's main thread is busy, its timers wait; when it ends, the late
    // tick runs first and the answers that queued up meanwhile are read after it.
    const busyClock: Clock = {
      nowMs: () => manual.nowMs(),
      after: (ms, fn) => {
        const due = manual.nowMs() + ms;
        if (due >= busyUntil) return manual.after(ms, fn);
        return manual.after(busyUntil - manual.nowMs(), () => {
          fn();
          afterBusy();
        });
      },
    };
    const { state, keepalive, flushQueued } = setUp(busyClock, manual);
    await manual.advance(2000);
    state.queue = true;
    busyUntil = manual.nowMs() + 6000;
    afterBusy = () => {
      flushQueued();
      state.queue = false;
    };
    await manual.advance(10_000);
    expect(state.dropped).toBeNull();
    keepalive.stop();
  });

  it("still drops a vanished peer while this side's timers fire once a minute, within two ticks", async () => {
    const manual = new ManualClock();
    const { state, keepalive } = setUp(minuteAligned(manual), manual);
    await manual.advance(5 * 60_000);
    state.answering = false;
    await manual.advance(3 * 60_000);
    expect(state.dropped).not.toBeNull();
    keepalive.stop();
  });
});
