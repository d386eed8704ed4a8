// A real coturn (Debian's /usr/bin/turnserver) for the tests and the bench: on
// 127.0.0.1, a random UDP/TCP port, relays from a small random port range, the
// shared-secret REST scheme (--use-auth-secret) and no TLS. Started, waited for
// (a STUN binding request answered), and stopped by its owner.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const TURNSERVER = "/usr/bin/turnserver";

export interface Coturn {
  port: number;
  secret: string;
  realm: string;
  /** turn:127.0.0.1:<port>?transport=udp */
  url: string;
  /** Everything coturn logged so far (the last LOG_LIMIT_CHARS). */
  log(): string;
  /** Resolves when the log matches `pattern`; rejects after timeoutMs or when coturn exits. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const LOG_LIMIT_CHARS = 1024 * 1024;
const RELAY_PORTS = 64;

/** Answers when a STUN Binding request to 127.0.0.1:port gets a Binding success response. */
function stunAnswers(port: number, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket("udp4");
    const request = Buffer.alloc(20);
    request.writeUInt16BE(0x0001, 0); // Binding request, no attributes
    request.writeUInt32BE(0x2112a442, 4); // magic cookie
    randomBytes(12).copy(request, 8);
    const done = (ok: boolean) => {
      clearTimeout(timer);
      socket.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.on("message", (m) => {
      if (m.length >= 20 && m.readUInt16BE(0) === 0x0101 && m.subarray(8, 20).equals(request.subarray(8, 20)))
        done(true);
    });
    socket.on("error", () => done(false));
    socket.send(request, port, "127.0.0.1");
  });
}

function randomPort(low: number, high: number): number {
  return low + Math.floor(Math.random() * (high - low));
}

async function startOnce(secret: string, realm: string): Promise<Coturn | null> {
  const port = randomPort(20_000, 40_000);
  const minPort = randomPort(40_000, 60_000 - RELAY_PORTS);
  const dir = mkdtempSync(join(tmpdir(), "coturn-"));
  const child: ChildProcess = spawn(
    TURNSERVER,
    [
      "-n", // no configuration file
      "--use-auth-secret",
      `--static-auth-secret=${secret}`,
      `--realm=${realm}`,
      "--no-tls",
      "--no-dtls",
      "--listening-ip=127.0.0.1",
      "--relay-ip=127.0.0.1",
      `--listening-port=${port}`,
      "--allow-loopback-peers",
      "--no-cli",
      `--min-port=${minPort}`,
      `--max-port=${minPort + RELAY_PORTS - 1}`,
      "--log-file=stdout",
      "--simple-log",
      "--verbose", // logs each ALLOCATE and each refused credential
      `--pidfile=${join(dir, "turnserver.pid")}`,
      `--userdb=${join(dir, "turndb")}`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let log = "";
  let exited = false;
  const waiters = new Set<() => void>();
  const append = (chunk: Buffer) => {
    log = (log + chunk.toString("utf8")).slice(-LOG_LIMIT_CHARS);
    for (const w of [...waiters]) w();
  };
  child.stdout?.on("data", append);
  child.stderr?.on("data", append);
  const exit = new Promise<void>((resolve) =>
    child.once("exit", () => {
      exited = true;
      for (const w of [...waiters]) w();
      resolve();
    }),
  );
  const stop = async () => {
    if (!exited) {
      child.kill("SIGTERM");
      const killer = setTimeout(() => child.kill("SIGKILL"), 3_000);
      await exit;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  // Listening once it answers STUN; a port taken by someone else makes it exit or never answer.
  const deadline = Date.now() + 10_000;
  while (!exited && Date.now() < deadline) {
    if (await stunAnswers(port, 200)) break;
  }
  if (exited || !(await stunAnswers(port, 500))) {
    await stop();
    if (/Address already in use|cannot bind/i.test(log)) return null;
    throw new Error(`coturn did not start on 127.0.0.1:${port}:\n${log.slice(-2000)}`);
  }
  return {
    port,
    secret,
    realm,
    url: `turn:127.0.0.1:${port}?transport=udp`,
    log: () => log,
    waitForLog(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          if (pattern.test(log)) finish(null);
          else if (exited) finish(new Error(`coturn exited before logging ${pattern}`));
        };
        const finish = (err: Error | null) => {
          clearTimeout(timer);
          waiters.delete(check);
          if (err) reject(err);
          else resolve();
        };
        const timer = setTimeout(
          () => finish(new Error(`coturn logged no ${pattern} in ${timeoutMs} ms:\n${log.slice(-2000)}`)),
          timeoutMs,
        );
        waiters.add(check);
        check();
      });
    },
    stop,
  };
}

/** Starts coturn on free random loopback ports (a few tries); stop() it after. */
export async function startCoturn(options: { secret?: string; realm?: string } = {}): Promise<Coturn> {
  if (!existsSync(TURNSERVER)) throw new Error(`${TURNSERVER} is missing: apt-get install -y coturn`);
  const secret = options.secret ?? randomBytes(16).toString("hex");
  const realm = options.realm ?? "spare-cycles.test";
  for (let attempt = 0; attempt < 5; attempt++) {
    const started = await startOnce(secret, realm);
    if (started) return started;
  }
  throw new Error("coturn found no free port in 5 tries");
}
