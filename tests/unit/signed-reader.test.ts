import { describe, expect, it, vi } from "vitest";
import { createIdentity } from "../../core/crypto/identity.ts";
import {
  canonicalJson,
  canonicalJsonOrNull,
  clearSignatureCache,
  MAX_CANONICAL_CHARS,
  MAX_DEPTH,
  signEntry,
  verifierStats,
  verifyEntry,
} from "../../core/crypto/signed.ts";
import { AuthorStore, type Slot } from "../../core/state/author-store.ts";
import { Directory, PROFILE_KIND, parseProfile } from "../../core/state/directory.ts";
import { fromBase64Url, isBase64UrlOf, toBase64Url } from "../../core/util/base64url.ts";

const nested = (depth: number): unknown => {
  let v: unknown = 0;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
};

describe("canonical JSON for signed payloads", () => {
  it("sorts keys at every level and leaves out undefined members", () => {
    expect(canonicalJson({ b: 1, a: { d: [true, null, "x"], c: undefined } })).toBe(
      '{"a":{"d":[true,null,"x"]},"b":1}',
    );
  });

  it("refuses what is not plain, bounded JSON, without throwing", () => {
    for (const bad of [
      10n,
      { a: 10n },
      Number.NaN,
      { x: Number.POSITIVE_INFINITY },
      [undefined],
      new Uint8Array(3),
      { d: new Date(0) },
      () => 1,
      nested(MAX_DEPTH + 1),
      nested(100_000),
      "x".repeat(MAX_CANONICAL_CHARS),
      Array.from({ length: MAX_CANONICAL_CHARS }, () => 1),
    ]) {
      expect(canonicalJsonOrNull(bad)).toBeNull();
    }
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(canonicalJsonOrNull(cyclic)).toBeNull();
    expect(canonicalJsonOrNull(nested(MAX_DEPTH))).not.toBeNull();
    expect(() => canonicalJson(10n)).toThrow();
  });

  it("verifyEntry returns null for any value, however strange", async () => {
    const id = await createIdentity();
    const good = await signEntry(id, PROFILE_KIND, { peerId: id.peerId, name: "a", updatedAt: 1 });
    const throwing = {
      ...good,
      get payload(): unknown {
        throw new Error("boom");
      },
    };
    for (const bad of [
      null,
      42,
      { ...good, payload: { ...good.payload, extra: 10n } },
      { ...good, payload: { ...good.payload, extra: nested(4000) } },
      { ...good, publicKey: `${good.publicKey}AAAA` },
      { ...good, signature: good.signature.slice(1) },
      throwing,
    ]) {
      expect(await verifyEntry(bad, PROFILE_KIND, parseProfile)).toBeNull();
    }
    expect((await verifyEntry(good, PROFILE_KIND, parseProfile))?.signer).toBe(id.peerId);
    await expect(signEntry(id, PROFILE_KIND, { x: 10n })).rejects.toThrow();
  });
});

describe("signature cache", () => {
  it("checks an entry once, and the same signature under another payload anew", async () => {
    clearSignatureCache();
    const id = await createIdentity();
    const profileOf = (name: string) => ({ peerId: id.peerId, name, updatedAt: 1 });
    const good = await signEntry(id, PROFILE_KIND, profileOf("cached"));
    const before = { ...verifierStats };
    for (let i = 0; i < 3; i++) expect(await verifyEntry(good, PROFILE_KIND, parseProfile)).not.toBeNull();
    expect(verifierStats.verified - before.verified).toBe(1);
    expect(verifierStats.cacheHits - before.cacheHits).toBe(2);
    const swapped = { ...good, payload: profileOf("other") };
    expect(await verifyEntry(swapped, PROFILE_KIND, parseProfile)).toBeNull();
    expect(verifierStats.verified - before.verified).toBe(2);
    expect(await verifyEntry(good, PROFILE_KIND, parseProfile)).not.toBeNull();
  });
});

describe("signature cache after a check that could not run", () => {
  it("does not remember a WebCrypto error as a bad signature: the next read checks again", async () => {
    clearSignatureCache();
    const id = await createIdentity();
    const entry = await signEntry(id, PROFILE_KIND, { peerId: id.peerId, name: "flaky", updatedAt: 1 });
    const verify = vi.spyOn(crypto.subtle, "verify").mockRejectedValueOnce(new Error("OperationError"));
    try {
      // The check could not be made: no verdict, so the entry does not count now...
      expect(await verifyEntry(entry, PROFILE_KIND, parseProfile)).toBeNull();
      // ...and counts once a check can be made, instead of staying "invalid" for good.
      expect((await verifyEntry(entry, PROFILE_KIND, parseProfile))?.signer).toBe(id.peerId);
    } finally {
      verify.mockRestore();
    }
  });

  it("remembers a real verdict: a forged signature is checked once", async () => {
    clearSignatureCache();
    const id = await createIdentity();
    const other = await createIdentity();
    const entry = await signEntry(id, PROFILE_KIND, { peerId: id.peerId, name: "x", updatedAt: 1 });
    const forged = { ...entry, publicKey: other.publicKey };
    const before = verifierStats.verified;
    for (let i = 0; i < 3; i++) expect(await verifyEntry(forged, PROFILE_KIND, parseProfile)).toBeNull();
    expect(verifierStats.verified - before).toBe(1);
  });
});

describe("canonical base64url", () => {
  it("knows the one spelling of a given length", () => {
    const key = toBase64Url(new Uint8Array(32).fill(7));
    expect(isBase64UrlOf(key, 32)).toBe(true);
    expect(isBase64UrlOf(`${key}=`, 32)).toBe(false);
    expect(isBase64UrlOf(key.slice(0, -1), 32)).toBe(false);
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const respelled = key.slice(0, -1) + alphabet[alphabet.indexOf(key.at(-1)!) ^ 1];
    expect(isBase64UrlOf(respelled, 32)).toBe(false);
    expect(fromBase64Url(respelled)).toBeNull();
    for (let n = 0; n < 12; n++) {
      const bytes = Uint8Array.from({ length: n }, (_, i) => (i * 37 + 255) & 0xff);
      expect(fromBase64Url(toBase64Url(bytes))).toEqual(bytes);
      expect(isBase64UrlOf(toBase64Url(bytes), n)).toBe(true);
    }
  });
});

describe("directory reads after a failed check", () => {
  it("counts the failure, drops only that slot, and reads again on the next change", async () => {
    const alice = await createIdentity();
    const store = new AuthorStore(alice);
    const directory = new Directory(store, alice);
    await directory.setName("alice");
    // A slot whose value throws when its check reads it (no entry from the network can be one:
    // the store holds only what encodes canonically; this stands for any check that fails).
    const good = await signEntry(alice, PROFILE_KIND, { peerId: "t".repeat(32), name: "t", updatedAt: 1 });
    const throwing = {
      author: "t".repeat(32),
      space: "profiles",
      key: "t".repeat(32),
      seq: 1,
      value: {
        ...good,
        get payload(): unknown {
          throw new Error("a check that fails");
        },
      },
    } as unknown as Slot;
    const list = vi
      .spyOn(store, "list")
      .mockImplementationOnce((space) => [...AuthorStore.prototype.list.call(store, space), throwing]);
    const profiles = await directory.profiles(); // this check fails...
    expect(profiles.get(alice.peerId)?.payload.name).toBe("alice");
    expect(profiles.size).toBe(1);
    expect(directory.stats.invalid).toBe(1);
    list.mockRestore();
    await directory.setName("alice-2"); // ...and the next change still reads
    expect((await directory.profiles()).get(alice.peerId)?.payload.name).toBe("alice-2");
    expect(directory.stats.invalid).toBe(0);
    expect((await directory.ownProfile())?.name).toBe("alice-2");
  });
});
