// The identity stamp: a proof of work bound to one public key.
import { describe, expect, it } from "vitest";
import { allowanceFor, checkStamp, searchStamp } from "../../core/ledger/stamp.ts";

describe("identity stamp", () => {
  it("holds for the key it was made for, at the bits it claims, and for no other key", () => {
    const key = "k".repeat(43);
    const stamp = searchStamp(key, 10, 0, 1 << 16);
    expect(stamp).not.toBeNull();
    expect(checkStamp(stamp, 10)).toBe(true);
    expect(checkStamp({ ...stamp!, publicKey: "j".repeat(43) }, 10)).toBe(false);
    expect(checkStamp({ ...stamp!, bits: 30 }, 10)).toBe(false);
    expect(checkStamp({ ...stamp!, nonce: stamp!.nonce + 1 }, 10)).toBe(false);
  });

  it("is worth an allowance only at the full difficulty", () => {
    const weak = searchStamp("w".repeat(43), 8, 0, 1 << 14);
    expect(checkStamp(weak, 8)).toBe(true);
    expect(allowanceFor(weak)).toBe(0);
    for (const junk of [
      null,
      1,
      "s",
      { publicKey: 3, nonce: 1, bits: 30 },
      { publicKey: "k", nonce: -1, bits: 30 },
    ])
      expect(allowanceFor(junk)).toBe(0);
  });
});
