// What the pages say of the network, without a DOM: My VMs shows a VM's
// virtual address, whether its current host carries outbound traffic (only
// what that lease's host said counts) and what its ports served; the
// Contribute page shows the rate given and the cap; settings load safely.
import { describe, expect, it } from "vitest";
import { virtualAddressOf } from "../../core/guest/virtual-address.ts";
import { MemoryStore } from "../../core/state/storage.ts";
import type { OwnedVm } from "../../core/vm/owner-runtime.ts";
import { BandwidthRateMeter, bandwidthText } from "../../web/bandwidth-view.ts";
import {
  loadContributeSettings,
  parseBandwidthCap,
  saveContributeSettings,
} from "../../web/contribute-settings.ts";
import { OUTBOUND_OFF, vmNetworkText } from "../../web/vm-network-view.ts";

const vm = (patch: Partial<OwnedVm> = {}): OwnedVm => ({
  vmId: "0123456789abcdef0123456789abcdef",
  name: "site",
  createdAt: 0,
  imageId: "image",
  memoryBytes: 96 * 1024 * 1024,
  diskBytes: null,
  state: "running",
  host: "hostpeer/tab",
  epoch: 3,
  detail: "",
  lastCheckpoint: null,
  reportedAt: 1,
  transfer: null,
  payment: null,
  outbound: null,
  web: { requests: 0, bytesIn: 0, bytesOut: 0 },
  ...patch,
});
const label = (host: string) => `Alice (${host.slice(0, 4)})`;

describe("My VMs: a VM's network", () => {
  it("shows the VM's own virtual address", () => {
    const text = vmNetworkText(vm(), label);
    expect(text.address).toBe(virtualAddressOf(vm().vmId));
    expect(text.address).toMatch(/^10\.\d+\.\d+\.\d+$/);
  });

  it("says what the current lease's host said of outbound, and nothing an older host said", () => {
    expect(vmNetworkText(vm({ outbound: { epoch: 3, allowed: true } }), label).outbound).toBe(
      "Outbound: on via Alice (host)",
    );
    expect(vmNetworkText(vm({ outbound: { epoch: 3, allowed: false } }), label).outbound).toBe(OUTBOUND_OFF);
    expect(vmNetworkText(vm({ outbound: { epoch: 2, allowed: true } }), label).outbound).toBe(
      "Outbound: asking its host",
    );
    expect(vmNetworkText(vm({ host: null, state: "stopped" }), label).outbound).toBe("");
  });

  it("counts what its ports served", () => {
    expect(vmNetworkText(vm(), label).traffic).toBe("");
    const web = { requests: 12, bytesIn: 3000, bytesOut: 2 * 1024 * 1024 };
    expect(vmNetworkText(vm({ web }), label).traffic).toBe("12 requests served · 2.9 KB in · 2.0 MB out");
  });
});

describe("Contribute: the bandwidth given", () => {
  it("measures the rate over the last seconds and says when answers wait for the cap", () => {
    const meter = new BandwidthRateMeter();
    meter.sample(0, { inBytes: 0, outBytes: 0, heldBytes: 0 });
    meter.sample(1000, { inBytes: 1024, outBytes: 10_240, heldBytes: 0 });
    const rates = meter.sample(2000, { inBytes: 2048, outBytes: 20_480, heldBytes: 500 });
    expect(rates).toEqual({ inBytesPerS: 1024, outBytesPerS: 10_240, held: true });
    // Quiet for a while: the rate falls back to zero within the window.
    for (let t = 3000; t <= 9000; t += 1000)
      meter.sample(t, { inBytes: 2048, outBytes: 20_480, heldBytes: 500 });
    const quiet = meter.sample(10_000, { inBytes: 2048, outBytes: 20_480, heldBytes: 500 });
    expect(quiet).toEqual({ inBytesPerS: 0, outBytesPerS: 0, held: false });
    expect(bandwidthText(rates, { inBytes: 2048, outBytes: 20_480, heldBytes: 500 }, 64)).toBe(
      "Bandwidth given to hosted VMs: 1.0 KB/s in, 10 KB/s out (2.0 KB in, 20 KB out since this tab opened; capped at 64 KiB/s, answers are being slowed to it).",
    );
    expect(bandwidthText(quiet, { inBytes: 0, outBytes: 0, heldBytes: 0 }, null)).toMatch(/no cap\)\.$/);
  });

  it("keeps outbound off and bandwidth unlimited unless set, and reads a stored cap safely", async () => {
    const store = new MemoryStore();
    const fresh = await loadContributeSettings(store);
    expect(fresh.outboundAllowed).toBe(false);
    expect(fresh.bandwidthCapKiBps).toBeNull();
    await saveContributeSettings(store, { ...fresh, outboundAllowed: true, bandwidthCapKiBps: 256 });
    expect(await loadContributeSettings(store)).toMatchObject({
      outboundAllowed: true,
      bandwidthCapKiBps: 256,
    });
    // Anything but exactly true leaves outbound off; a cap that is not a positive number is no cap.
    await store.set("contribute-settings", { outboundAllowed: "yes", bandwidthCapKiBps: -5 });
    expect(await loadContributeSettings(store)).toMatchObject({
      outboundAllowed: false,
      bandwidthCapKiBps: null,
    });
    for (const bad of ["", "abc", 0, Number.NaN, "-1", null, {}]) expect(parseBandwidthCap(bad)).toBeNull();
    expect(parseBandwidthCap("100.4")).toBe(100);
    expect(parseBandwidthCap(1e15)).toBe(10 * 1024 * 1024);
  });
});
