// Attack 6 (part): thrashing the signature cache. Peers of the room (Sybils:
// identities cost nothing) send 11,000 valid profiles, each in its own author's
// slot. The store holds at most `maxAuthors` authors and refuses (and counts) the
// rest; readers look at the directory again and again, and every entry they
// have checked once must be checked from the cache after that.
import { afterEach, describe, expect, it, vi } from "vitest";
import { createIdentity, type Identity, peerIdFromPublicKey } from "../../../core/crypto/identity.ts";
import { signEntry } from "../../../core/crypto/signed.ts";
import { AuthorStore, DEFAULT_STORE_LIMITS } from "../../../core/state/author-store.ts";
import { Directory, PROFILE_KIND } from "../../../core/state/directory.ts";
import { STATE_KIND } from "../../../core/state/state-entry.ts";
import { toBase64Url } from "../../../core/util/base64url.ts";

const SYBILS = 11_000;

/** A signing identity without the extras a real one has (its box key): cheap to make by the thousand. */
async function sybil(): Promise<Identity> {
  const pair = (await crypto.subtle.generateKey({ name: "Ed25519" }, true, [
    "sign",
    "verify",
  ])) as CryptoKeyPair;
  const publicKey = toBase64Url(new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey)));
  return { peerId: await peerIdFromPublicKey(publicKey), publicKey, privateKey: pair.privateKey } as Identity;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("hostile: Sybil entries thrash the signature cache", () => {
  it("11,000 valid entries: at most maxAuthors held, and the second read verifies nothing again", async () => {
    const { maxAuthors } = DEFAULT_STORE_LIMITS;
    const entries = await Promise.all(
      Array.from({ length: SYBILS }, async (_, i) => {
        const id = await sybil();
        const profile = await signEntry(id, PROFILE_KIND, { peerId: id.peerId, name: `s${i}`, updatedAt: 1 });
        // What a Sybil sends: its profile in its own slot, the state entry signed by itself.
        return signEntry(id, STATE_KIND, { space: "profiles", key: id.peerId, seq: 1, value: profile });
      }),
    );
    const store = new AuthorStore(await createIdentity());
    const results = await Promise.all(entries.map((e) => store.apply(e)));
    expect(results.filter((r) => r === "applied")).toHaveLength(maxAuthors);
    expect(results.filter((r) => r === "over-quota")).toHaveLength(SYBILS - maxAuthors);
    expect(store.stats).toMatchObject({ applied: maxAuthors, overQuota: SYBILS - maxAuthors, invalid: 0 });
    expect(store.authors().length).toBeLessThanOrEqual(maxAuthors);

    const reader = new Directory(store, await createIdentity());
    const verify = vi.spyOn(crypto.subtle, "verify");

    let start = performance.now();
    expect((await reader.profiles()).size).toBe(maxAuthors);
    const firstMs = performance.now() - start;
    const firstVerifies = verify.mock.calls.length;
    verify.mockClear();

    start = performance.now();
    expect((await reader.profiles()).size).toBe(maxAuthors);
    const secondMs = performance.now() - start;
    console.log(
      `Sybil directory read: first ${firstMs.toFixed(0)} ms (${firstVerifies} verifies), ` +
        `second ${secondMs.toFixed(0)} ms (${verify.mock.calls.length} verifies)`,
    );
    expect(firstVerifies).toBe(maxAuthors);
    expect(verify.mock.calls.length).toBe(0);

    // The Sybils sending again (a resync) changes nothing: still at most maxAuthors authors.
    await Promise.all(entries.map((e) => store.apply(e)));
    expect(store.authors().length).toBeLessThanOrEqual(maxAuthors);
    expect((await reader.profiles()).size).toBe(maxAuthors);
  });
});
