// A tar archive (POSIX ustar, with pax headers for what ustar cannot hold: long
// paths and link targets), written entry by entry: how an owner downloads a
// VM's whole disk. Pure: entries in, byte blocks out.

export type TarEntry =
  | { type: "dir"; path: string; mode: number; mtimeS: number; uid: number; gid: number }
  | { type: "file"; path: string; mode: number; mtimeS: number; uid: number; gid: number; data: Uint8Array }
  | { type: "symlink"; path: string; mode: number; mtimeS: number; uid: number; gid: number; target: string };

const BLOCK = 512;
const encoder = new TextEncoder();

function octal(value: number, width: number): string {
  return `${value.toString(8).padStart(width - 1, "0")}\0`;
}

function put(header: Uint8Array, offset: number, width: number, text: string): void {
  const bytes = encoder.encode(text);
  header.set(bytes.subarray(0, width), offset);
}

function header(
  name: string,
  e: { mode: number; mtimeS: number; uid: number; gid: number },
  size: number,
  typeflag: string,
  linkname = "",
): Uint8Array {
  const h = new Uint8Array(BLOCK);
  put(h, 0, 100, name);
  put(h, 100, 8, octal(e.mode & 0o7777, 8));
  put(h, 108, 8, octal(Math.min(e.uid, 0o7777777), 8));
  put(h, 116, 8, octal(Math.min(e.gid, 0o7777777), 8));
  put(h, 124, 12, octal(size, 12));
  put(h, 136, 12, octal(Math.max(0, Math.floor(e.mtimeS)), 12));
  put(h, 148, 8, "        "); // the checksum counts its own field as spaces
  put(h, 156, 1, typeflag);
  put(h, 157, 100, linkname);
  put(h, 257, 6, "ustar\0");
  put(h, 263, 2, "00");
  let sum = 0;
  for (const byte of h) sum += byte;
  put(h, 148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return h;
}

/** A pax record: "<length> <key>=<value>\n", the length counting its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  const bodyBytes = encoder.encode(body).length;
  let length = bodyBytes + 1;
  while (length !== bodyBytes + String(length).length) length = bodyBytes + String(length).length;
  return `${length}${body}`;
}

const padding = (size: number) => new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
const fits = (text: string) => encoder.encode(text).length <= 100;

/** The blocks of one entry: a pax header first when its path or link target is too long for ustar. */
export function tarEntry(e: TarEntry): Uint8Array[] {
  const path = e.type === "dir" && !e.path.endsWith("/") ? `${e.path}/` : e.path;
  const link = e.type === "symlink" ? e.target : "";
  const out: Uint8Array[] = [];
  const pax = [
    ...(fits(path) ? [] : [paxRecord("path", path)]),
    ...(fits(link) ? [] : [paxRecord("linkpath", link)]),
  ].join("");
  if (pax) {
    const body = encoder.encode(pax);
    out.push(header("././@PaxHeader", e, body.length, "x"), body, padding(body.length));
  }
  const shortPath = fits(path) ? path : path.slice(-99);
  const shortLink = fits(link) ? link : "";
  if (e.type === "file") out.push(header(shortPath, e, e.data.length, "0"), e.data, padding(e.data.length));
  else if (e.type === "dir") out.push(header(shortPath, e, 0, "5"));
  else out.push(header(shortPath, e, 0, "2", shortLink));
  return out;
}

/** The two zero blocks that end an archive. */
export function tarEnd(): Uint8Array {
  return new Uint8Array(2 * BLOCK);
}
