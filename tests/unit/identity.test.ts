import { describe, expect, it } from "vitest";
import {
  createIdentity,
  exportIdentity,
  IdentityError,
  importIdentity,
  PEER_ID_PATTERN,
  peerIdFromPublicKey,
  sign,
  verifySignature,
  vmKeysOf,
} from "../../core/crypto/identity.ts";
import { toBase64Url } from "../../core/util/base64url.ts";

const bytes = (s: string) => new TextEncoder().encode(s);

describe("identity", () => {
  it("derives the peer id from the public key", async () => {
    const id = await createIdentity();
    expect(id.peerId).toMatch(PEER_ID_PATTERN);
    expect(await peerIdFromPublicKey(id.publicKey)).toBe(id.peerId);
    const other = await createIdentity();
    expect(other.peerId).not.toBe(id.peerId);
  });

  it("signs what only its key can sign", async () => {
    const id = await createIdentity();
    const other = await createIdentity();
    const sig = await sign(id, bytes("hello"));
    expect(await verifySignature(id.publicKey, bytes("hello"), sig)).toBe(true);
    expect(await verifySignature(id.publicKey, bytes("hellO"), sig)).toBe(false);
    expect(await verifySignature(other.publicKey, bytes("hello"), sig)).toBe(false);
    expect(await verifySignature(id.publicKey, bytes("hello"), "not-a-signature")).toBe(false);
    expect(await verifySignature("short", bytes("hello"), sig)).toBe(false);
  });

  it("exports to a file and imports back as the same peer", async () => {
    const id = await createIdentity();
    const file = JSON.parse(JSON.stringify(await exportIdentity(id)));
    const back = await importIdentity(file);
    expect(back.peerId).toBe(id.peerId);
    expect(back.publicKey).toBe(id.publicKey);
    const sig = await sign(back, bytes("moved"));
    expect(await verifySignature(id.publicKey, bytes("moved"), sig)).toBe(true);
  });

  it("carries the owner's VM keys in the file, and only well-formed ones back out", async () => {
    const id = await createIdentity();
    const good = { ["a".repeat(32)]: "k".repeat(43) };
    const file = JSON.parse(JSON.stringify(await exportIdentity(id, { vmKeys: good })));
    expect(vmKeysOf(file)).toEqual(good);
    expect(vmKeysOf({ ...file, vmKeys: { nothex: "k".repeat(43), ["b".repeat(32)]: 5 } })).toEqual({});
    expect(vmKeysOf(null)).toEqual({});
  });

  it("refuses files that are not identities, or whose halves do not match", async () => {
    await expect(importIdentity(null)).rejects.toThrow(IdentityError);
    await expect(importIdentity({ format: "other" })).rejects.toThrow(/not a Spare Cycles identity/);
    const a = await exportIdentity(await createIdentity());
    const b = await exportIdentity(await createIdentity());
    // Node refuses the mismatch on import, browsers may only at the signature check: either way, refused.
    await expect(
      importIdentity({ ...a, privateKey: { ...a.privateKey, x: b.privateKey.x } }),
    ).rejects.toThrow(IdentityError);
    await expect(importIdentity({ ...a, peerId: b.peerId })).rejects.toThrow(/peer id does not match/);
    await expect(
      importIdentity({ ...a, privateKey: { ...a.privateKey, d: toBase64Url(new Uint8Array(5)) } }),
    ).rejects.toThrow(IdentityError);
  });
});
