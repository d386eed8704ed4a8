import { describe, expect, it } from "vitest";
import {
  MAX_ICE_INPUT_CHARS,
  MAX_ICE_SERVERS,
  MAX_ICE_TEXT,
  MAX_ICE_URLS,
  parseIceServers,
  parseIceServersJson,
  parseIceServersText,
} from "../../core/net/ice-servers.ts";
import { parseServerMessage } from "../../core/net/signaling-protocol.ts";
import { LimitError, limitsFromEnv, resolveLimits } from "../../signaling-server/limits.ts";

const SELF = `${"0".repeat(32)}.tab`;
const turn = { urls: "turn:turn.example.org:3478", username: "u", credential: "p" };

function error(result: { ok: boolean; error?: string }): string {
  expect(result.ok).toBe(false);
  return result.error ?? "";
}

describe("parseIceServers", () => {
  it("accepts STUN and TURN servers, with one URL or several", () => {
    const list = [
      { urls: "stun:stun.example.org:3478" },
      {
        urls: ["stuns:a.example.org", "turns:b.example.org:5349?transport=tcp"],
        username: "u",
        credential: "p",
      },
      turn,
    ];
    expect(parseIceServers(list)).toEqual({ ok: true, servers: list });
    expect(parseIceServers([])).toEqual({ ok: true, servers: [] });
  });

  it("returns copies, not the objects it was given", () => {
    const given = [{ urls: ["stun:a.example.org"] }];
    const parsed = parseIceServers(given);
    expect(parsed.ok && parsed.servers[0]).not.toBe(given[0]);
    expect(parsed.ok && parsed.servers[0]!.urls).not.toBe(given[0]!.urls);
  });

  it("refuses what is not a list of server objects", () => {
    for (const value of [
      undefined,
      null,
      42,
      "stun:a.example.org",
      { urls: "stun:a" },
      { length: 1, 0: turn },
    ])
      expect(error(parseIceServers(value))).toMatch(/JSON list/);
    for (const entry of [null, 7, "stun:a.example.org", ["stun:a.example.org"]])
      expect(error(parseIceServers([entry]))).toMatch(/^\[0\]: an object/);
  });

  it("refuses fields of the wrong type, unknown fields and empty URL lists", () => {
    expect(error(parseIceServers([{ urls: 1 }]))).toMatch(/^\[0\]\.urls: a string/);
    expect(error(parseIceServers([{ urls: ["stun:a", 2] }]))).toMatch(/^\[0\]\.urls\[1\]: a string/);
    expect(error(parseIceServers([{ urls: [] }]))).toMatch(/^\[0\]\.urls: 1 to/);
    expect(error(parseIceServers([{ urls: "stun:a", username: 5 }]))).toMatch(/^\[0\]\.username/);
    expect(error(parseIceServers([{ ...turn, credential: { secret: 1 } }]))).toMatch(/^\[0\]\.credential/);
    expect(error(parseIceServers([{ urls: "stun:a", credentail: "typo" }]))).toMatch(
      /unknown field "credentail"/,
    );
    expect(error(parseIceServersJson('[{"urls":"stun:a","__proto__":{"credential":"x"}}]'))).toMatch(
      /unknown field "__proto__"/,
    );
  });

  it("refuses URLs that are not STUN or TURN", () => {
    for (const url of [
      "http://example.org",
      "javascript:alert(1)",
      "stun:",
      "stun: a.example.org",
      "STUNX:a",
      " stun:a.example.org",
      "",
    ]) {
      expect(error(parseIceServers([{ urls: url }]))).toMatch(/not a STUN\/TURN URL/);
      expect(error(parseIceServers([{ urls: ["stun:ok.example.org", url] }]))).toMatch(
        /not a STUN\/TURN URL/,
      );
    }
  });

  it("refuses a TURN server without its username and credential", () => {
    expect(error(parseIceServers([{ urls: "turn:t.example.org" }]))).toMatch(/TURN server needs/);
    expect(error(parseIceServers([{ urls: ["stun:s", "turns:t"], username: "u" }]))).toMatch(
      /TURN server needs/,
    );
  });

  it("refuses huge lists and huge strings", () => {
    const many = Array.from({ length: MAX_ICE_SERVERS + 1 }, () => ({ urls: "stun:a.example.org" }));
    expect(error(parseIceServers(many))).toMatch(/at most/);
    expect(parseIceServers(many.slice(1)).ok).toBe(true);
    const urls = Array.from({ length: MAX_ICE_URLS + 1 }, (_, i) => `stun:s${i}.example.org`);
    expect(error(parseIceServers([{ urls }]))).toMatch(/1 to/);
    const long = `stun:${"a".repeat(MAX_ICE_TEXT)}`;
    expect(error(parseIceServers([{ urls: long }]))).toMatch(/up to/);
    expect(error(parseIceServers([{ ...turn, credential: "x".repeat(MAX_ICE_TEXT + 1) }]))).toMatch(/up to/);
    expect(error(parseIceServersJson(" ".repeat(MAX_ICE_INPUT_CHARS + 1)))).toMatch(/longer than/);
    expect(error(parseIceServersText(`stun:a ${"x".repeat(MAX_ICE_INPUT_CHARS)}`))).toMatch(/longer than/);
  });
});

describe("parseIceServersJson", () => {
  it("parses a JSON list and says when the text is not JSON", () => {
    expect(parseIceServersJson('[{"urls":"stun:a.example.org"}]')).toEqual({
      ok: true,
      servers: [{ urls: "stun:a.example.org" }],
    });
    expect(error(parseIceServersJson("[{urls:"))).toBe("not JSON");
    expect(error(parseIceServersJson('{"urls":"stun:a"}'))).toMatch(/JSON list/);
  });
});

describe("parseIceServersText (the settings box)", () => {
  it("means the server's own servers when empty", () => {
    expect(parseIceServersText("  \n ")).toEqual({ ok: true, servers: null });
  });

  it("reads URLs separated by white space, or a JSON array", () => {
    expect(parseIceServersText(" stun:a.example.org\n stuns:b.example.org ")).toEqual({
      ok: true,
      servers: [{ urls: "stun:a.example.org" }, { urls: "stuns:b.example.org" }],
    });
    expect(parseIceServersText(JSON.stringify([turn]))).toEqual({ ok: true, servers: [turn] });
    expect(parseIceServersText("[]")).toEqual({ ok: true, servers: [] });
  });

  it("names the URL it refuses", () => {
    expect(error(parseIceServersText("stun:a.example.org https://evil.example"))).toContain(
      "https://evil.example",
    );
    expect(error(parseIceServersText("[1, 2"))).toBe("not JSON");
  });
});

describe("where ICE servers come from", () => {
  it("the signaling server's environment uses the same parser and names the variable", () => {
    expect(limitsFromEnv({ SIGNAL_ICE_SERVERS: JSON.stringify([turn]) }).iceServers).toEqual([turn]);
    expect(() => limitsFromEnv({ SIGNAL_ICE_SERVERS: "nope" })).toThrow(LimitError);
    expect(() => limitsFromEnv({ SIGNAL_ICE_SERVERS: '[{"urls":"http://x"}]' })).toThrow(
      /SIGNAL_ICE_SERVERS: .*not a STUN\/TURN URL/,
    );
    expect(() => resolveLimits({ iceServers: [{ urls: 5 }] as never })).toThrow(/iceServers: /);
    expect(resolveLimits({ iceServers: [{ urls: "stun:a" }] }).iceServers).toEqual([{ urls: "stun:a" }]);
  });

  it("a joined message with a hostile list joins with no ICE servers", () => {
    const joined = (iceServers: unknown) =>
      parseServerMessage(JSON.stringify({ type: "joined", room: "r", self: SELF, peers: [], iceServers }));
    const ok = joined([turn]);
    expect(ok?.type === "joined" && ok.iceServers).toEqual([turn]);
    const missing = joined(undefined);
    expect(missing?.type === "joined" && missing.iceServers).toEqual([]);
    for (const hostile of ["stun:a", [{ urls: "http://x" }], [{ urls: "stun:a", extra: 1 }], 7, null]) {
      const m = joined(hostile);
      expect(m?.type, JSON.stringify(hostile)).toBe("joined");
      expect(m?.type === "joined" && m.iceServers).toEqual([]);
    }
  });
});
