import { describe, expect, it } from "vitest";
import { createIdentity, exportIdentity, importIdentity } from "../../core/crypto/identity.ts";
import {
  CryptoError,
  createBoxKeyPair,
  createVmKey,
  exportVmKey,
  importVmKey,
  openBox,
  seal,
  sealTo,
  unseal,
} from "../../core/crypto/vm-crypto.ts";

/** Random bytes (getRandomValues fills at most 64 KiB at a time). */
function bytes(n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(out.subarray(i, Math.min(n, i + 65536)));
  return out;
}

describe("VM keys and sealing", () => {
  it("seals so that only the key, with the same context, opens it", async () => {
    const key = await createVmKey();
    const other = await createVmKey();
    const data = bytes(100_000);
    const sealed = await seal(key, data, "vm1/1/3");
    expect(sealed.length).toBeGreaterThan(data.length);
    expect(await unseal(key, sealed, "vm1/1/3")).toEqual(data);
    await expect(unseal(other, sealed, "vm1/1/3")).rejects.toThrow(CryptoError);
    await expect(unseal(key, sealed, "vm1/1/4")).rejects.toThrow(CryptoError);
    const tampered = sealed.slice();
    tampered[5000] = (tampered[5000]! ^ 1) & 0xff;
    await expect(unseal(key, tampered, "vm1/1/3")).rejects.toThrow(CryptoError);
    await expect(unseal(key, sealed.subarray(0, 10), "vm1/1/3")).rejects.toThrow(CryptoError);
  });

  it("exports and imports VM keys", async () => {
    const key = await createVmKey();
    const back = await importVmKey(await exportVmKey(key));
    const sealed = await seal(key, bytes(10), "c");
    expect((await unseal(back, sealed, "c")).length).toBe(10);
    await expect(importVmKey("short")).rejects.toThrow(CryptoError);
  });

  it("seals a box only its recipient can open", async () => {
    const host = await createBoxKeyPair();
    const mallory = await createBoxKeyPair();
    const secret = bytes(32);
    const box = await sealTo(host.publicKey, secret, "vm-key/abc/2");
    expect(await openBox(host, box, "vm-key/abc/2")).toEqual(secret);
    await expect(openBox(mallory, box, "vm-key/abc/2")).rejects.toThrow(CryptoError);
    await expect(openBox(host, box, "vm-key/abc/3")).rejects.toThrow(CryptoError);
    await expect(openBox(host, { ...box, ephemeral: mallory.publicKey }, "vm-key/abc/2")).rejects.toThrow(
      CryptoError,
    );
    await expect(openBox(host, { ...box, ephemeral: "nope" }, "vm-key/abc/2")).rejects.toThrow(CryptoError);
  });

  it("keeps an identity's box key across export and import", async () => {
    const id = await createIdentity();
    const back = await importIdentity(JSON.parse(JSON.stringify(await exportIdentity(id))));
    expect(back.box.publicKey).toBe(id.box.publicKey);
    const box = await sealTo(id.box.publicKey, bytes(8), "x");
    expect((await openBox(back.box, box, "x")).length).toBe(8);
  });
});
