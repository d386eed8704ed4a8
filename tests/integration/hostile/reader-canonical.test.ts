// Attack 8 (part): other spellings of a valid key or signature. base64url leaves
// the low bits of the last character unused (2 of a 43-character key, 4 of an
// 86-character signature), so one key or signature has several spellings that
// decode to the same bytes. Only the canonical one (those bits zero, no padding)
// may count, so an entry has one form and one peer id has one key string.
import { describe, expect, it } from "vitest";
import { createIdentity, peerIdFromPublicKey, verifySignature } from "../../../core/crypto/identity.ts";
import { type SignedEntry, signEntry, verifyEntry } from "../../../core/crypto/signed.ts";
import { AuthorStore } from "../../../core/state/author-store.ts";
import { Directory, PROFILE_KIND, type Profile, parseProfile } from "../../../core/state/directory.ts";
import { fromBase64Url } from "../../../core/util/base64url.ts";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The same bytes spelled another way: the lowest (unused) bit of the last character flipped. */
function respell(text: string): string {
  return text.slice(0, -1) + ALPHABET[ALPHABET.indexOf(text.at(-1)!) ^ 1];
}

describe("hostile: non-canonical base64url", () => {
  it("a valid key or signature spelled another way is rejected", async () => {
    const alice = await createIdentity();
    const entry = await signEntry(alice, PROFILE_KIND, { peerId: alice.peerId, name: "alice", updatedAt: 1 });
    const otherKey = respell(entry.publicKey);
    const otherSignature = respell(entry.signature);
    expect(otherKey).not.toBe(entry.publicKey);
    expect(otherSignature).not.toBe(entry.signature);
    expect(await verifyEntry(entry, PROFILE_KIND, parseProfile)).not.toBeNull();
    expect(fromBase64Url(otherKey)).toBeNull();
    expect(fromBase64Url(otherSignature)).toBeNull();
    expect(fromBase64Url(`${entry.publicKey}=`)).toBeNull();
    await expect(peerIdFromPublicKey(otherKey)).rejects.toThrow();
    const data = new TextEncoder().encode("x");
    expect(await verifySignature(otherKey, data, entry.signature)).toBe(false);
    const variants: SignedEntry<Profile>[] = [
      { ...entry, publicKey: otherKey },
      { ...entry, signature: otherSignature },
    ];
    for (const v of variants) expect(await verifyEntry(v, PROFILE_KIND, parseProfile)).toBeNull();

    // And in the state: a respelled copy of Alice's profile, even in her own slot, does not count as hers.
    const aliceStore = new AuthorStore(alice);
    const readerStore = new AuthorStore(await createIdentity());
    const reader = new Directory(readerStore, await createIdentity());
    expect(await readerStore.apply(await aliceStore.put("profiles", alice.peerId, variants[1]))).toBe(
      "applied",
    );
    expect((await reader.profiles()).size).toBe(0);
    expect(reader.stats.invalid).toBe(1);

    // Nor does a respelled copy of her state entry: the store refuses it, even after holding the
    // genuine one (a respelled signature must not win the slot's tie-break either).
    const genuine = await aliceStore.put("profiles", alice.peerId, entry);
    const respelled = [
      { ...genuine, publicKey: respell(genuine.publicKey) },
      { ...genuine, signature: respell(genuine.signature) },
    ];
    for (const v of respelled) expect(await readerStore.apply(v)).toBe("invalid");
    expect(await readerStore.apply(genuine)).toBe("applied");
    for (const v of respelled) expect(await readerStore.apply(v)).toBe("invalid");
    expect(readerStore.stats.invalid).toBe(4);
    expect(readerStore.byKey("profiles", alice.peerId).map((s) => s.entry.signature)).toEqual([
      genuine.signature,
    ]);
    expect((await reader.profiles()).get(alice.peerId)?.payload.name).toBe("alice");
  });
});
