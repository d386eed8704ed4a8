// The VM channel's host reports at the edge: what a host writes is what the
// owner reads (its meter with the web counters, its status with the outbound
// flag), and a report with counters that are not whole, bounded numbers is
// dropped; the outbound flag is on only when it says exactly true.
import { describe, expect, it } from "vitest";
import { OwnerTraffic } from "../../core/vm/owner-traffic.ts";
import { encodeVmMessage, parseVmMessage, type VmMessage } from "../../core/vm/vm-protocol.ts";

const vmId = "ab".repeat(16);
const raw = (m: object) => new TextEncoder().encode(JSON.stringify(m));
const web = { requests: 3, bytesIn: 420, bytesOut: 10_000 };

describe("vm protocol: a host's reports", () => {
  it("reads back the meter with its web counters and the status with its outbound flag", () => {
    const messages: VmMessage[] = [
      { t: "meter", vmId, epoch: 2, milli: 17, web },
      { t: "status", vmId, epoch: 2, state: "running", code: null, detail: "", outbound: true },
      { t: "status", vmId, epoch: 2, state: "refused", code: "no-slot", detail: "full", outbound: false },
    ];
    for (const m of messages) expect(parseVmMessage(encodeVmMessage(m))).toEqual(m);
  });

  it("drops a meter whose counters are missing, negative, fractional, huge or not numbers", () => {
    const meter = { t: "meter", vmId, epoch: 2, milli: 17 };
    for (const bad of [
      undefined,
      null,
      "lots",
      { ...web, requests: -1 },
      { ...web, bytesIn: 1.5 },
      { ...web, bytesOut: 2 ** 60 },
      { ...web, bytesOut: "9" },
      { requests: 1, bytesIn: 2 },
    ])
      expect(parseVmMessage(raw({ ...meter, web: bad }))).toBeNull();
    // Extra fields are not carried along.
    const extra = parseVmMessage(raw({ ...meter, web: { ...web, evil: "x".repeat(1000) } }));
    expect(extra).toEqual({ ...meter, web });
  });

  it("reads outbound as on only when the host says true", () => {
    const status = { t: "status", vmId, epoch: 1, state: "running", code: null, detail: "" };
    for (const said of [undefined, "true", 1, {}, null, false])
      expect(parseVmMessage(raw({ ...status, outbound: said }))).toMatchObject({ outbound: false });
    expect(parseVmMessage(raw({ ...status, outbound: true }))).toMatchObject({ outbound: true });
  });

  it("takes a VM's disk use only as a whole number of bytes", () => {
    const status = { t: "status", vmId, epoch: 1, state: "running", code: null, detail: "", outbound: false };
    expect(parseVmMessage(raw({ ...status, diskBytes: 104_857_600 }))).toMatchObject({
      diskBytes: 104_857_600,
    });
    for (const said of [-1, 1.5, "100", Number.NaN, 2 ** 60, null, {}]) {
      const parsed = parseVmMessage(raw({ ...status, diskBytes: said }));
      expect(parsed).not.toBeNull();
      expect(parsed).not.toHaveProperty("diskBytes");
    }
  });
});

describe("owner traffic: the sum over a VM's leases", () => {
  it("adds each lease's newest report, never lowers one, and stays bounded across many moves", () => {
    const t = new OwnerTraffic();
    t.note(vmId, 1, { requests: 2, bytesIn: 200, bytesOut: 2000 });
    t.note(vmId, 1, { requests: 5, bytesIn: 500, bytesOut: 5000 });
    // A late report of the same lease is older: it changes nothing.
    t.note(vmId, 1, { requests: 4, bytesIn: 400, bytesOut: 4000 });
    expect(t.note(vmId, 2, { requests: 1, bytesIn: 100, bytesOut: 1000 })).toEqual({
      requests: 6,
      bytesIn: 600,
      bytesOut: 6000,
    });
    for (let epoch = 3; epoch <= 40; epoch++) t.note(vmId, epoch, { requests: 1, bytesIn: 1, bytesOut: 1 });
    const total = t.total(vmId);
    expect(total.requests).toBe(6 + 38);
    // Reports of leases long gone are folded into one sum and cannot be counted twice.
    t.note(vmId, 1, { requests: 100, bytesIn: 100, bytesOut: 100 });
    t.note(vmId, 3, { requests: 100, bytesIn: 100, bytesOut: 100 });
    expect(t.total(vmId)).toEqual(total);
  });
});
