import { describe, expect, it } from "vitest";
import { parseServerMessage } from "../../core/net/signaling-protocol.ts";
import {
  DEFAULT_TURN_TTL_S,
  TurnIssuer,
  TurnSettingError,
  turnCredentials,
  turnExpiryS,
  turnFromEnv,
} from "../../signaling-server/turn-credentials.ts";

const PEER = "0123456789abcdef0123456789abcdef.tab1";

describe("TURN credentials (coturn's REST scheme)", () => {
  it("match HMAC-SHA1 vectors computed with openssl", () => {
    // printf '%s' "$user" | openssl dgst -sha1 -hmac "$secret" -binary | base64
    expect(turnCredentials("hunter2-turn", PEER, 1_700_000_000)).toEqual({
      username: `1700000000:${PEER}`,
      credential: "+vnjFSoXC6LdEQ3cy7D7XSUoYCE=",
    });
    expect(turnCredentials("my_secret", "my_username", 1_433_895_918_506).credential).toBe(
      "gKwSWE2uKuZnhCArog06lwc23/A=",
    );
  });

  it("read the expiry back from the username, and nothing from one without it", () => {
    expect(turnExpiryS(`1700000000:${PEER}`)).toBe(1_700_000_000);
    expect(turnExpiryS("1700000000:a:b")).toBe(1_700_000_000);
    expect(turnExpiryS(PEER)).toBeNull();
    expect(turnExpiryS(":x")).toBeNull();
    expect(turnExpiryS("12ab:x")).toBeNull();
  });

  it("are issued per peer for ttlS, and due again past half their life", () => {
    let now = 1_000_000;
    const issuer = new TurnIssuer({ urls: ["turn:127.0.0.1:3478"], secret: "s", ttlS: 600 }, () => now);
    const socket = {};
    expect(issuer.due(socket)).toBe(false); // never issued: nothing to refresh
    const server = issuer.issue(socket, PEER);
    expect(server.urls).toEqual(["turn:127.0.0.1:3478"]);
    expect(server.username).toBe(`1000600:${PEER}`);
    expect(server.credential).toBe(turnCredentials("s", PEER, 1_000_600).credential);
    now += 299;
    expect(issuer.due(socket)).toBe(false);
    now += 1;
    expect(issuer.due(socket)).toBe(true);
    expect(issuer.issue(socket, PEER).username).toBe(`1000900:${PEER}`);
    expect(issuer.due(socket)).toBe(false);
    expect(issuer.due({})).toBe(false);
  });

  it("reach clients as an ice-servers message that replaces the list", () => {
    const fresh = { urls: ["turn:127.0.0.1:3478"], username: `1:${PEER}`, credential: "c" };
    expect(parseServerMessage(JSON.stringify({ type: "ice-servers", iceServers: [fresh] }))).toEqual({
      type: "ice-servers",
      iceServers: [fresh],
    });
    // A TURN entry without a credential, or not a list: ignored as a whole.
    expect(
      parseServerMessage(JSON.stringify({ type: "ice-servers", iceServers: [{ urls: "turn:h" }] })),
    ).toBeNull();
    expect(parseServerMessage(JSON.stringify({ type: "ice-servers", iceServers: "turn:h" }))).toBeNull();
  });
});

describe("TURN settings from the environment", () => {
  const error = (env: Record<string, string>) => {
    try {
      turnFromEnv(env);
    } catch (err) {
      expect(err).toBeInstanceOf(TurnSettingError);
      return (err as Error).message;
    }
    throw new Error("no error");
  };

  it("are off without TURN_URLS", () => {
    expect(turnFromEnv({})).toBeNull();
    expect(turnFromEnv({ TURN_URLS: "  " })).toBeNull();
  });

  it("read comma-separated URLs, the secret and the TTL (default one hour)", () => {
    expect(
      turnFromEnv({
        TURN_URLS:
          "turn:turn.example.org:3478?transport=udp, turns:turn.example.org:5349?transport=tcp,turn:[::1]",
        TURN_SECRET: "s3cret",
      }),
    ).toEqual({
      urls: [
        "turn:turn.example.org:3478?transport=udp",
        "turns:turn.example.org:5349?transport=tcp",
        "turn:[::1]",
      ],
      secret: "s3cret",
      ttlS: DEFAULT_TURN_TTL_S,
    });
    expect(turnFromEnv({ TURN_URLS: "turn:h", TURN_SECRET: "s", TURN_TTL_S: "120" })?.ttlS).toBe(120);
  });

  it("name what is wrong", () => {
    expect(error({ TURN_URLS: "stun:h:3478", TURN_SECRET: "s" })).toMatch(
      /TURN_URLS: not a turn:\/turns: URL.*stun:h:3478/,
    );
    expect(error({ TURN_URLS: "turn:h:99999", TURN_SECRET: "s" })).toMatch(/TURN_URLS: port out of range/);
    expect(error({ TURN_URLS: "turn:h?transport=sctp", TURN_SECRET: "s" })).toMatch(/TURN_URLS/);
    expect(error({ TURN_URLS: "turn:a b", TURN_SECRET: "s" })).toMatch(/TURN_URLS/);
    expect(error({ TURN_URLS: ",", TURN_SECRET: "s" })).toMatch(/TURN_URLS: at least one URL/);
    expect(error({ TURN_URLS: "turn:h" })).toMatch(/TURN_SECRET is not/);
    expect(error({ TURN_SECRET: "s" })).toMatch(/TURN_URLS is not/);
    expect(error({ TURN_URLS: "turn:h", TURN_SECRET: "s", TURN_TTL_S: "1h" })).toMatch(
      /TURN_TTL_S: whole seconds/,
    );
    expect(error({ TURN_URLS: "turn:h", TURN_SECRET: "s", TURN_TTL_S: "5" })).toMatch(
      /TURN_TTL_S: whole seconds from 60/,
    );
  });
});
