import { describe, expect, it } from "vitest";
import { guestMacForVm, IMAGE_GUEST_MAC, isUnicastMac, macBytes } from "../../core/guest/guest-mac.ts";

describe("guestMacForVm", () => {
  it("gives each VM its own locally administered unicast MAC, the same every time", () => {
    const a = guestMacForVm("vm-1");
    expect(guestMacForVm("vm-1")).toBe(a);
    expect(guestMacForVm("vm-2")).not.toBe(a);
    const macs = new Set(Array.from({ length: 1000 }, (_, i) => guestMacForVm(`vm-${i}`)));
    expect(macs.size).toBe(1000);
    for (const mac of macs) {
      expect(isUnicastMac(mac)).toBe(true);
      expect(macBytes(mac)[0]! & 0x02).toBe(0x02); // locally administered
      expect(mac).not.toBe(IMAGE_GUEST_MAC);
    }
  });

  it("refuses what is not a unicast MAC", () => {
    expect(isUnicastMac(IMAGE_GUEST_MAC)).toBe(true);
    expect(isUnicastMac("01:00:5e:00:00:01")).toBe(false); // multicast
    expect(isUnicastMac("02:00:00:00:00")).toBe(false);
    expect(isUnicastMac("02:00:00:00:00:0G")).toBe(false);
    expect(() => macBytes("nope")).toThrow(/not a MAC address/);
  });
});
