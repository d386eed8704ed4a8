import { describe, expect, it } from "vitest";
import {
  DEFAULT_SETTINGS,
  MAX_SERVER_URLS,
  parseServerUrls,
  settingsFromSaved,
} from "../../web/network-settings.ts";

const error = (text: string) => {
  const parsed = parseServerUrls(text);
  expect(parsed.ok).toBe(false);
  return parsed.ok ? "" : parsed.error;
};

describe("signaling server URLs as typed", () => {
  it("take one or several, separated by spaces, commas or new lines, in order, without repeats", () => {
    expect(parseServerUrls("")).toEqual({ ok: true, urls: [] });
    expect(parseServerUrls("  ")).toEqual({ ok: true, urls: [] });
    expect(parseServerUrls("wss://a.example.org/signal")).toEqual({
      ok: true,
      urls: ["wss://a.example.org/signal"],
    });
    expect(
      parseServerUrls(
        " wss://a.example.org/signal, ws://10.0.0.2:8080/signal\nwss://a.example.org/signal  wss://[::1]:8443/signal",
      ),
    ).toEqual({
      ok: true,
      urls: ["wss://a.example.org/signal", "ws://10.0.0.2:8080/signal", "wss://[::1]:8443/signal"],
    });
  });

  it("say which one is wrong and why", () => {
    expect(error("wss://a.example.org/signal https://b.example.org/signal")).toBe(
      '"https://b.example.org/signal" does not start with ws:// or wss://',
    );
    expect(error("a.example.org")).toMatch(/"a\.example\.org" does not start with ws:\/\//);
    expect(error("ws://")).toMatch(/is not a URL|names no host/);
    expect(error("wss://user:pw@a.example.org/signal")).toMatch(/user name or password/);
    expect(error("wss://a.example.org/signal#x")).toMatch(/#fragment/);
    expect(error(`wss://${"a".repeat(600)}.org`)).toMatch(/longer than 512/);
    const many = Array.from({ length: MAX_SERVER_URLS + 1 }, (_, i) => `wss://s${i}.example.org/signal`);
    expect(error(many.join(" "))).toBe(
      `at most ${MAX_SERVER_URLS} signaling servers, not ${MAX_SERVER_URLS + 1}`,
    );
  });
});

describe("network settings as saved", () => {
  it("default when nothing or junk was saved", () => {
    expect(settingsFromSaved(undefined, null)).toEqual(DEFAULT_SETTINGS);
    expect(settingsFromSaved("junk", null)).toEqual(DEFAULT_SETTINGS);
    expect(
      settingsFromSaved(
        { room: "bad room!", serverUrls: ["http://x"], iceServers: 5, relayOnly: "yes" },
        null,
      ),
    ).toEqual(DEFAULT_SETTINGS);
  });

  it("read back what the page saved, relay-only included", () => {
    const saved = {
      room: "home",
      serverUrls: ["wss://a.example.org/signal", "wss://b.example.org/signal"],
      iceServers: [{ urls: "turn:turn.example.org:3478", username: "u", credential: "p" }],
      relayOnly: true,
    };
    expect(settingsFromSaved(saved, null)).toEqual(saved);
  });

  it("take an older version's single serverUrl, and the ?network= parameter over the saved room", () => {
    expect(settingsFromSaved({ room: "home", serverUrl: "wss://a.example.org/signal" }, "e2e-x")).toEqual({
      ...DEFAULT_SETTINGS,
      room: "e2e-x",
      serverUrls: ["wss://a.example.org/signal"],
    });
    expect(settingsFromSaved({ room: "home" }, "not a room!").room).toBe("home");
  });
});
