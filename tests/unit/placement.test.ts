import { describe, expect, it } from "vitest";
import type { Presence } from "../../core/state/presence.ts";
import { type HostCandidate, type PlacementRequest, rankHosts } from "../../core/vm/placement.ts";

/** The host placement would pick first, if any. */
const firstChoice = (request: PlacementRequest, hosts: HostCandidate[]) =>
  rankHosts(request, hosts)[0]?.host ?? null;

const MIB = 1024 * 1024;

function host(name: string, o: Partial<Presence["capacity"]> & { vms?: number } = {}): HostCandidate {
  const presence: Presence = {
    peer: `${name.padEnd(32, "0")}.s`,
    boxKey: "A".repeat(43),
    name,
    appVersion: "t",
    capacity: { contributing: true, cores: 2, memoryMiB: 1024, budgetPct: 50, slots: 2, ...o },
    load: { vms: o.vms ?? 0, usedPct: 0 },
    at: 0,
  };
  return { presence, direct: true, rttMs: 1 };
}

const request = {
  vmId: "v".repeat(32),
  memoryBytes: 96 * MIB,
  exclude: new Set<string>(),
  pending: new Map(),
};

describe("placement", () => {
  it("skips peers that do not contribute, are full, have too little memory or no CPU", () => {
    const hosts = [
      host("aa", { contributing: false }),
      host("bb", { slots: 1, vms: 1 }),
      host("cc", { memoryMiB: 100 }),
      host("dd", { budgetPct: 0 }),
    ];
    expect(firstChoice(request, hosts)).toBeNull();
    const ok = host("ee");
    expect(firstChoice(request, [...hosts, ok])).toBe(ok.presence.peer);
  });

  it("counts memory per VM including the emulator's overhead", () => {
    // 96 MiB guest + 64 MiB overhead = 160 MiB each: 300 MiB holds one, not two.
    const h = host("aa", { memoryMiB: 300, slots: 4 });
    expect(firstChoice(request, [h])).toBe(h.presence.peer);
    const loaded = host("aa", { memoryMiB: 300, slots: 4, vms: 1 });
    expect(firstChoice(request, [loaded])).toBeNull();
  });

  it("prefers the host with most free slots, and counts leases not yet in presence", () => {
    const a = host("aa", { slots: 4, vms: 1 });
    const b = host("bb", { slots: 4, vms: 0 });
    expect(firstChoice(request, [a, b])).toBe(b.presence.peer);
    const pending = new Map([[b.presence.peer, 2]]);
    expect(firstChoice({ ...request, pending }, [a, b])).toBe(a.presence.peer);
  });

  it("never picks an excluded host", () => {
    const a = host("aa");
    const b = host("bb", { slots: 1 });
    expect(firstChoice({ ...request, exclude: new Set([a.presence.peer]) }, [a, b])).toBe(b.presence.peer);
    expect(rankHosts({ ...request, exclude: new Set([a.presence.peer, b.presence.peer]) }, [a, b])).toEqual(
      [],
    );
  });
});
