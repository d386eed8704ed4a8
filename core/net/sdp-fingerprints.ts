// The DTLS certificate fingerprints in an SDP, as a link reports them (see
// Link.fingerprints in transport.ts): the WebRTC links read them from their
// local and remote descriptions, which are what DTLS checks the certificates against.

/**
 * The fingerprints an SDP offers (`a=fingerprint:<hash> <hex>`, session or
 * media level), normalized and sorted, joined with ","; null when it has none.
 */
export function fingerprintsFromSdp(sdp: string | null | undefined): string | null {
  if (typeof sdp !== "string") return null;
  const found = new Set<string>();
  for (const m of sdp.matchAll(/^a=fingerprint:[ \t]*(\S+)[ \t]+([0-9A-Fa-f:]+)[ \t]*\r?$/gm)) {
    found.add(`${m[1]!.toLowerCase()} ${m[2]!.toUpperCase()}`);
  }
  return found.size > 0 ? [...found].sort().join(",") : null;
}
