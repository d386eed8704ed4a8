// HTTP/1.1 as a guest's web server speaks it, bounded: a request written out as
// bytes, and an incremental parser for the answer (status line, headers, a body
// sized by Content-Length, chunked, or running to the end of the connection).
// Pure: the host feeds it what the guest's TCP connection delivers. There is no
// browser-ready incremental parser on npm that does not need Node's Buffer
// (http-parser-js, llhttp), and the subset a gateway needs is small.

export interface HttpRequestHead {
  method: string;
  /** Path and query, as sent on the request line ("/index.html?a=1"). */
  target: string;
  headers: [string, string][];
}

export interface HttpResponseHead {
  status: number;
  statusText: string;
  headers: [string, string][];
}

export interface HttpLimits {
  /** The most bytes the status line and headers may take. */
  maxHeadBytes: number;
  /** The most body bytes (after chunked decoding). */
  maxBodyBytes: number;
}

export const DEFAULT_HTTP_LIMITS: HttpLimits = { maxHeadBytes: 16 * 1024, maxBodyBytes: 16 * 1024 * 1024 };

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const TARGET = /^\/[\x21-\x7e]*$/;
/** Headers the gateway sets itself: never taken from the client. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
  "host",
  "content-length",
]);

const encoder = new TextEncoder();

/** The request as bytes for the guest: one request per connection, its body sized. */
export function encodeRequest(head: HttpRequestHead, body: Uint8Array, hostName: string): Uint8Array {
  if (!TOKEN.test(head.method)) throw new HttpError(400, "a bad request method");
  if (!TARGET.test(head.target) || head.target.length > 8192)
    throw new HttpError(400, "a bad request target");
  const lines = [`${head.method} ${head.target} HTTP/1.1`, `Host: ${hostName}`, "Connection: close"];
  for (const [name, value] of head.headers) {
    if (!TOKEN.test(name) || /[\r\n\0]/.test(value)) throw new HttpError(400, "a bad request header");
    if (!HOP_BY_HOP.has(name.toLowerCase())) lines.push(`${name}: ${value}`);
  }
  if (body.length > 0 || !["GET", "HEAD"].includes(head.method)) lines.push(`Content-Length: ${body.length}`);
  const headBytes = encoder.encode(`${lines.join("\r\n")}\r\n\r\n`);
  const out = new Uint8Array(headBytes.length + body.length);
  out.set(headBytes);
  out.set(body, headBytes.length);
  return out;
}

export interface ResponseEvents {
  head(head: HttpResponseHead): void;
  body(bytes: Uint8Array): void;
  end(): void;
}

type BodyMode =
  | { kind: "length"; left: number }
  | { kind: "chunked"; state: "size" | "data" | "data-end" | "trailer"; left: number }
  | { kind: "close" }
  | { kind: "none" };

/**
 * Feeds on the guest's answer and calls `events` as it is understood; throws an
 * HttpError (502) on anything malformed or beyond the limits. `close()` says the
 * guest closed the connection.
 */
export class ResponseParser {
  private pending: Uint8Array = new Uint8Array(0);
  private head: HttpResponseHead | null = null;
  private mode: BodyMode | null = null;
  private bodyBytes = 0;
  private done = false;

  constructor(
    private readonly events: ResponseEvents,
    private readonly limits: HttpLimits = DEFAULT_HTTP_LIMITS,
    private readonly method = "GET",
  ) {}

  get finished(): boolean {
    return this.done;
  }

  feed(bytes: Uint8Array): void {
    if (this.done) return; // anything after the end of the answer is ignored
    this.pending = concat(this.pending, bytes);
    if (!this.head) this.readHead();
    if (this.head) this.readBody();
  }

  /** The guest closed the connection. */
  close(): void {
    if (this.done) return;
    if (!this.head) throw new HttpError(502, "the guest closed the connection before answering");
    if (this.mode?.kind !== "close")
      throw new HttpError(502, "the guest closed the connection in the middle of its answer");
    this.finish();
  }

  private readHead(): void {
    const end = indexOfCrlfCrlf(this.pending);
    if (end < 0) {
      if (this.pending.length > this.limits.maxHeadBytes)
        throw new HttpError(502, "the guest's headers are too large");
      return;
    }
    if (end > this.limits.maxHeadBytes) throw new HttpError(502, "the guest's headers are too large");
    const text = new TextDecoder("latin1").decode(this.pending.subarray(0, end));
    this.pending = this.pending.slice(end + 4);
    const [statusLine = "", ...lines] = text.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(statusLine);
    if (!m) throw new HttpError(502, "the guest did not answer in HTTP/1.x");
    const status = Number(m[1]);
    const headers: [string, string][] = [];
    for (const line of lines) {
      const colon = line.indexOf(":");
      const name = line.slice(0, colon);
      if (colon <= 0 || !TOKEN.test(name)) throw new HttpError(502, "the guest sent a malformed header");
      headers.push([name, line.slice(colon + 1).trim()]);
    }
    this.head = { status, statusText: m[2] ?? "", headers };
    this.mode = this.bodyMode(status, headers);
    this.events.head({
      ...this.head,
      headers: headers.filter(
        ([n]) => !HOP_BY_HOP.has(n.toLowerCase()) || n.toLowerCase() === "content-length",
      ),
    });
    if (this.mode.kind === "none" || (this.mode.kind === "length" && this.mode.left === 0)) this.finish();
  }

  private bodyMode(status: number, headers: [string, string][]): BodyMode {
    if (this.method === "HEAD" || status === 204 || status === 304 || (status >= 100 && status < 200))
      return { kind: "none" };
    const get = (n: string) => headers.filter(([k]) => k.toLowerCase() === n).map(([, v]) => v);
    const te = get("transfer-encoding").join(",").toLowerCase();
    if (te) {
      if (te.trim() !== "chunked")
        throw new HttpError(502, `the guest used a transfer encoding the gateway does not read (${te})`);
      return { kind: "chunked", state: "size", left: 0 };
    }
    const lengths = new Set(get("content-length"));
    if (lengths.size > 1) throw new HttpError(502, "the guest sent two different lengths");
    const [length] = [...lengths];
    if (length === undefined) return { kind: "close" };
    if (!/^\d{1,15}$/.test(length)) throw new HttpError(502, "the guest sent a bad Content-Length");
    const left = Number(length);
    if (left > this.limits.maxBodyBytes) throw new HttpError(502, "the guest's answer is too large");
    return { kind: "length", left };
  }

  private readBody(): void {
    const mode = this.mode;
    if (!mode || this.done) return;
    if (mode.kind === "close") {
      this.emitBody(this.take(this.pending.length));
      return;
    }
    if (mode.kind === "length") {
      const chunk = this.take(Math.min(mode.left, this.pending.length));
      mode.left -= chunk.length;
      this.emitBody(chunk);
      if (mode.left === 0) this.finish();
      return;
    }
    if (mode.kind === "chunked") this.readChunks(mode);
  }

  private readChunks(mode: Extract<BodyMode, { kind: "chunked" }>): void {
    for (;;) {
      if (mode.state === "data") {
        if (this.pending.length === 0) return;
        const chunk = this.take(Math.min(mode.left, this.pending.length));
        mode.left -= chunk.length;
        this.emitBody(chunk);
        if (mode.left === 0) mode.state = "data-end";
        continue;
      }
      const line = this.line();
      if (line === null) return;
      if (mode.state === "data-end") {
        if (line !== "") throw new HttpError(502, "the guest sent a malformed chunk");
        mode.state = "size";
      } else if (mode.state === "size") {
        const size = /^([0-9a-fA-F]{1,8})(?:;.*)?$/.exec(line);
        if (!size) throw new HttpError(502, "the guest sent a malformed chunk size");
        mode.left = Number.parseInt(size[1]!, 16);
        mode.state = mode.left === 0 ? "trailer" : "data";
      } else if (line === "") {
        this.finish();
        return;
      }
    }
  }

  /** The next CRLF-terminated line, or null until it has arrived. */
  private line(): string | null {
    for (let i = 0; i + 1 < this.pending.length; i++) {
      if (this.pending[i] === 13 && this.pending[i + 1] === 10) {
        const text = new TextDecoder("latin1").decode(this.pending.subarray(0, i));
        this.pending = this.pending.slice(i + 2);
        return text;
      }
    }
    if (this.pending.length > this.limits.maxHeadBytes)
      throw new HttpError(502, "the guest sent a malformed chunk");
    return null;
  }

  private take(n: number): Uint8Array {
    const out = this.pending.slice(0, n);
    this.pending = this.pending.slice(n);
    return out;
  }

  private emitBody(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.bodyBytes += bytes.length;
    if (this.bodyBytes > this.limits.maxBodyBytes)
      throw new HttpError(502, "the guest's answer is too large");
    this.events.body(bytes);
  }

  private finish(): void {
    this.done = true;
    this.pending = new Uint8Array(0);
    this.events.end();
  }
}

function indexOfCrlfCrlf(b: Uint8Array): number {
  for (let i = 0; i + 3 < b.length; i++)
    if (b[i] === 13 && b[i + 1] === 10 && b[i + 2] === 13 && b[i + 3] === 10) return i;
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
