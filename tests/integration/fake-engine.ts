// A stand-in for the VM engine in runtime tests: a tiny shell on a key-value
// "machine" whose state is sealed with the real VM key and context, so tampering
// and wrong keys fail exactly as they would with v86. It keeps the engine's
// rules the acceptance suite checks against v86 (tests/acceptance/vm-engine.suite.ts):
// it echoes what is typed, answers `echo` with $((arithmetic)), `> file` and `cat`,
// replays the console on restore, and is silent once stopped.

import { seal, unseal } from "../../core/crypto/vm-crypto.ts";
import { checksumOf } from "../../core/guest/lan-packet.ts";
import type { GuestConnection, VmEngine } from "../../core/vm/engine.ts";
import { memoryFiles } from "./fake-files.ts";

export interface FakeMachine {
  files: Record<string, string>;
  /** Ports its `httpd` listens on. */
  listening: Set<number>;
  running: boolean;
  /** Paused by its host: it takes no input and runs nothing until resumed. */
  paused: boolean;
  /** The VM it runs (as started). */
  vmId: string | null;
  /** Packets from its owner's network, as they arrived (it answers pings itself). */
  lanReceived: Uint8Array[];
  /** Sends a packet to its owner's network, as the guest would (null until its host opens the LAN). */
  lanSend: ((packet: Uint8Array) => void) | null;
}

export const running = new Set<FakeMachine>();
/** What `/drip` connections hold back: calling one sends the rest of its answer (or, cut, closes without it). */
export const drips: ((cut?: boolean) => void)[] = [];

const PROMPT = "fake$ ";

/** Expands $((a op b)) the way the guest's shell does, for + - * / on integers. */
function expand(text: string): string {
  return text.replace(/\$\(\((-?\d+)\s*([-+*/])\s*(-?\d+)\)\)/g, (_, a: string, op: string, b: string) => {
    const [x, y] = [Number(a), Number(b)];
    return String(op === "+" ? x + y : op === "-" ? x - y : op === "*" ? x * y : Math.trunc(x / y));
  });
}

/** `imageId`, when given, is the only image this engine has (like a real host). */
export function fakeEngine(
  options: { imageId?: string; instructionsPerLine?: number } = {},
): VmEngine & { machine: FakeMachine } {
  const machine: FakeMachine = {
    files: {},
    listening: new Set(),
    running: false,
    paused: false,
    vmId: null,
    lanReceived: [],
    lanSend: null,
  };
  let onOutput: (bytes: Uint8Array) => void = () => {};
  let transcript = "";
  let typed = "";
  let instructions = 0;
  /** A paused guest's serial port keeps what is typed; it runs once resumed. */
  const pendingWhilePaused: Uint8Array[] = [];
  const out = (text: string) => {
    if (!machine.running) return;
    transcript += text;
    onOutput(new TextEncoder().encode(text));
  };
  const run = (line: string): string => {
    const [cmd, name, ...rest] = line.split(/\s+/);
    // "set NAME VALUE" stores a file; "get NAME" prints it.
    if (cmd === "set" && name) {
      machine.files[name] = rest[0] ?? "";
      return "";
    }
    if (cmd === "get" && name) return `${name}=${machine.files[name] ?? "(none)"}\r\n`;
    // "httpd" (or "httpd -p PORT") serves the files over HTTP (see connect below).
    if (cmd === "httpd") {
      machine.listening.add(name === "-p" ? Number(rest[0]) : 80);
      return "";
    }
    if (cmd === "echo") {
      const [text, file] = expand(line.slice(4).trim()).split(/\s*>\s*/);
      if (file) {
        machine.files[file] = `${text}\n`;
        return "";
      }
      return `${text}\r\n`;
    }
    if (cmd === "cat" && name) {
      const file = machine.files[name];
      return file === undefined ? `cat: ${name}: No such file or directory\r\n` : file.replace(/\n/g, "\r\n");
    }
    return cmd ? `sh: ${cmd}: not found\r\n` : "";
  };
  const files = memoryFiles();
  return {
    machine,
    async start(o) {
      machine.vmId = o.vmId ?? null;
      if (options.imageId !== undefined && o.imageId !== options.imageId)
        throw new Error(`this host does not have the VM's image (${o.imageId.slice(0, 24)}…)`);
      if (o.sealed) {
        const plain = await unseal(o.sealed.key, o.sealed.bytes, o.sealed.context);
        const restored = JSON.parse(new TextDecoder().decode(plain));
        machine.files = restored.files;
        machine.listening = new Set(restored.listening ?? []);
        transcript = "";
        onOutput = o.onOutput;
        machine.running = true;
        out(restored.transcript); // the console shows what it showed when saved
      } else {
        onOutput = o.onOutput;
        machine.running = true;
      }
      running.add(machine);
      out(PROMPT);
    },
    input(bytes) {
      if (!machine.running) return;
      if (machine.paused) {
        pendingWhilePaused.push(bytes);
        return;
      }
      typed += new TextDecoder().decode(bytes);
      // A line runs when its return arrives; the terminal echoes what was typed.
      for (let end = typed.search(/[\r\n]/); end >= 0; end = typed.search(/[\r\n]/)) {
        const line = typed.slice(0, end).trim();
        typed = typed.slice(end + 1);
        instructions += (options.instructionsPerLine ?? 1000) + line.length;
        out(`${line}\r\n${run(line)}${PROMPT}`);
      }
    },
    async checkpoint(key, context) {
      if (!machine.running) throw new Error("not running");
      const plain = new TextEncoder().encode(
        JSON.stringify({ files: machine.files, listening: [...machine.listening], transcript }),
      );
      return { sealed: await seal(key, plain, context), rawBytes: plain.length, saveMs: 1, packMs: 1 };
    },
    async transcript() {
      return machine.running ? transcript : "";
    },
    setBudget() {},
    files: () => (machine.running ? files : null),
    async pause() {
      machine.paused = true;
    },
    async resume() {
      machine.paused = false;
      for (const bytes of pendingWhilePaused.splice(0)) this.input(bytes);
    },
    async stats() {
      return { usedPct: 0, instructions: machine.running ? instructions : 0 };
    },
    async connect(port, first) {
      if (!machine.running || machine.paused || !machine.listening.has(port))
        throw new Error(`connection refused on port ${port}`);
      const conn = fakeHttpConnection(machine);
      if (first) conn.write(first);
      return conn;
    },
    lan(onPacket) {
      let open = true;
      machine.lanSend = (packet) => {
        if (open && machine.running) onPacket(packet);
      };
      return {
        deliver(packet) {
          if (!open || !machine.running || machine.paused) return;
          machine.lanReceived.push(packet);
          const reply = echoReplyTo(packet);
          if (reply) onPacket(reply);
        },
        close() {
          open = false;
          machine.lanSend = null;
        },
      };
    },
    async stop() {
      machine.running = false;
      running.delete(machine);
    },
  };
}

/** The guest's answer to an ICMP echo request for it: the reply, from it to the asker. */
function echoReplyTo(packet: Uint8Array): Uint8Array | null {
  const ihl = (packet[0]! & 15) * 4;
  if (packet[9] !== 1 || packet[ihl] !== 8) return null;
  const out = packet.slice();
  const view = new DataView(out.buffer);
  const [src, dst] = [view.getUint32(12), view.getUint32(16)];
  view.setUint32(12, dst);
  view.setUint32(16, src);
  view.setUint16(10, 0);
  view.setUint16(10, checksumOf(out.subarray(0, ihl)));
  out[ihl] = 0;
  view.setUint16(ihl + 2, 0);
  view.setUint16(ihl + 2, checksumOf(out.subarray(ihl)));
  return out;
}

/**
 * One connection to the fake guest's httpd: a GET of `/name` answers the file
 * `name` (`/` is index.html); `/hang` never answers; `/huge` promises more than
 * any gateway takes; `/chunked` answers in chunks; `/drip` answers its head and
 * "first", and the rest ("-rest") only when the test calls a function of `drips`
 * (or closes without it, cut).
 */
function fakeHttpConnection(machine: FakeMachine): GuestConnection {
  const onData: ((b: Uint8Array) => void)[] = [];
  const onClose: (() => void)[] = [];
  let received = "";
  let closed = false;
  // As the real connection (web/guest-connection.ts) reads only once a reader is attached,
  // an answer waits for one.
  let pending: string | null = null;
  let keepOpen = false;
  const deliver = () => {
    if (closed || pending === null || onData.length === 0) return;
    for (const h of onData) h(new TextEncoder().encode(pending));
    pending = null;
    if (keepOpen) return;
    closed = true;
    for (const h of onClose) h();
  };
  const answer = (text: string, open = false) => {
    pending = text;
    keepOpen = open;
    queueMicrotask(deliver);
  };
  return {
    onData: (h) => {
      onData.push(h);
      queueMicrotask(deliver);
    },
    onClose: (h) => onClose.push(h),
    close: () => {
      closed = true;
    },
    write(bytes) {
      received += new TextDecoder().decode(bytes);
      if (!received.includes("\r\n\r\n")) return;
      const path = /^[A-Z]+ (\S+) HTTP\/1\.1\r\n/.exec(received)?.[1] ?? "/";
      if (path === "/hang") return;
      if (path === "/huge") return answer("HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nxx");
      if (path === "/drip") {
        answer("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nfirst", true);
        drips.push((cut = false) => {
          if (closed) return;
          if (!cut) for (const h of onData) h(new TextEncoder().encode("-rest"));
          else for (const h of onClose) h();
        });
        return;
      }
      if (path === "/chunked")
        return answer(
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        );
      const file = machine.files[path === "/" ? "index.html" : path.slice(1)];
      if (file === undefined)
        return answer("HTTP/1.0 404 Not Found\r\nContent-Length: 10\r\n\r\nnot found\n");
      const body = new TextEncoder().encode(file);
      answer(`HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: ${body.length}\r\n\r\n${file}`);
    },
  };
}
