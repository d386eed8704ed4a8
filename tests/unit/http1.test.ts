// The gateway's HTTP/1.1: requests it writes for a guest, and answers read in
// any split, sized, chunked or to the close; malformed or oversized answers are
// a 502, never a hang or unbounded memory.
import { describe, expect, it } from "vitest";
import { encodeRequest, HttpError, type HttpResponseHead, ResponseParser } from "../../core/web/http1.ts";

const text = (b: Uint8Array) => new TextDecoder().decode(b);
const bytes = (s: string) => new TextEncoder().encode(s);

function parse(
  answer: string,
  options: { splitEvery?: number; maxBodyBytes?: number; close?: boolean } = {},
) {
  let head: HttpResponseHead | null = null;
  const body: string[] = [];
  let ended = false;
  const p = new ResponseParser(
    { head: (h) => (head = h), body: (b) => body.push(text(b)), end: () => (ended = true) },
    { maxHeadBytes: 1024, maxBodyBytes: options.maxBodyBytes ?? 1024 },
  );
  const all = bytes(answer);
  const step = options.splitEvery ?? all.length;
  for (let i = 0; i < all.length; i += step) p.feed(all.subarray(i, i + step));
  if (options.close) p.close();
  return { head: head as HttpResponseHead | null, body: body.join(""), ended };
}

describe("HTTP/1.1 requests for a guest", () => {
  it("writes the request line, the gateway's own Host and Connection, and a sized body", () => {
    const out = text(
      encodeRequest(
        {
          method: "POST",
          target: "/form?a=1",
          headers: [
            ["Content-Type", "text/plain"],
            ["Host", "evil"],
            ["Connection", "keep-alive"],
          ],
        },
        bytes("hi"),
        "vm",
      ),
    );
    expect(out).toBe(
      "POST /form?a=1 HTTP/1.1\r\nHost: vm\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi",
    );
  });

  it("refuses header injection and bad targets", () => {
    const bad = [
      { method: "GET", target: "/", headers: [["X", "a\r\nInjected: 1"]] as [string, string][] },
      { method: "GET", target: "http://elsewhere/", headers: [] },
      { method: "G ET", target: "/", headers: [] },
    ];
    for (const head of bad) expect(() => encodeRequest(head, new Uint8Array(), "vm")).toThrow(HttpError);
  });
});

describe("HTTP/1.1 answers from a guest", () => {
  it("reads a sized answer split anywhere", () => {
    for (const splitEvery of [1, 3, 1000]) {
      const r = parse("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5\r\n\r\nhello", {
        splitEvery,
      });
      expect(r.head?.status).toBe(200);
      expect(r.head?.headers).toContainEqual(["Content-Type", "text/html"]);
      expect(r).toMatchObject({ body: "hello", ended: true });
    }
  });

  it("decodes chunked bodies and drops the hop-by-hop headers", () => {
    const r = parse(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: keep-alive\r\n\r\n4\r\nWiki\r\n5;ext=1\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\n",
      { splitEvery: 2 },
    );
    expect(r).toMatchObject({ body: "Wikipedia", ended: true });
    expect(r.head?.headers.map(([n]) => n)).toEqual([]);
  });

  it("reads to the close when the answer has no length, and has no body for HEAD-like statuses", () => {
    expect(parse("HTTP/1.0 200 OK\r\n\r\nuntil the end", { close: true })).toMatchObject({
      body: "until the end",
      ended: true,
    });
    expect(parse("HTTP/1.1 304 Not Modified\r\nContent-Length: 99\r\n\r\n")).toMatchObject({
      body: "",
      ended: true,
    });
  });

  it("turns malformed, oversized and cut-off answers into a 502", () => {
    const cases: [string, { close?: boolean; maxBodyBytes?: number }][] = [
      ["SSH-2.0-OpenSSH\r\n\r\n", {}],
      [`HTTP/1.1 200 OK\r\nX: ${"a".repeat(2000)}\r\n\r\n`, {}],
      ["HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", {}],
      [`HTTP/1.1 200 OK\r\n\r\n${"x".repeat(2000)}`, {}],
      ["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", { close: true }],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", {}],
      ["HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", {}],
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", {}],
      ["HTTP/1.1 200", { close: true }],
    ];
    for (const [answer, options] of cases) {
      let error: unknown = null;
      try {
        parse(answer, options);
      } catch (err) {
        error = err;
      }
      expect(error, answer.slice(0, 40)).toBeInstanceOf(HttpError);
      expect((error as HttpError).status).toBe(502);
    }
  });
});
