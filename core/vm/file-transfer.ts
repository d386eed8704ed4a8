// Files into and out of a VM, the part every side shares: the limits, the name a
// file gets in the guest's /files, and an upload put together chunk by chunk
// (bounded, in order, checked against its SHA-256 before anyone sees it).

import { sha256Hex } from "../util/bytes.ts";
import { SHA256_PATTERN } from "../util/guards.ts";

/** The largest file that goes into or out of a VM. */
export const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** The largest piece of a file in one message. */
export const MAX_FILE_CHUNK_BYTES = 1024 * 1024;
/** Transfers open at once on one VM, each way (so at most 2 × 64 MiB held). */
export const MAX_OPEN_FILE_TRANSFERS = 2;
/** The longest name a file keeps in /files (characters). */
export const MAX_FILE_NAME_CHARS = 120;

export class FileTransferError extends Error {}

/** A file directly in the guest's /files. */
export interface GuestFileEntry {
  name: string;
  bytes: number;
}

/** A download under way: a copy of the file as it was when asked for. */
export interface GuestFileDownload {
  id: number;
  /** Its name in /files. */
  name: string;
  bytes: number;
  sha256: string;
}

/**
 * The VM host's file calls (worker/api.ts GuestFilesApi), as a page or a
 * remote owner reaches them: each may be a message away.
 */
export interface GuestFilePort {
  fileUploadBegin(name: string, bytes: number): Promise<number>;
  fileUploadChunk(id: number, offset: number, chunk: Uint8Array): Promise<void>;
  fileUploadEnd(id: number, sha256: string): Promise<string>;
  fileUploadCancel(id: number): Promise<void>;
  fileList(): Promise<GuestFileEntry[]>;
  fileDownloadBegin(name: string): Promise<GuestFileDownload>;
  fileDownloadChunk(id: number, offset: number, maxBytes?: number): Promise<Uint8Array>;
  fileDownloadEnd(id: number): Promise<void>;
  /**
   * Optional: the VM's whole disk (a Debian guest's root) packed as a tar.gz, to
   * read in pieces like a download; absent where a VM has no disk of its own.
   */
  fileSnapshotBegin?(): Promise<GuestFileDownload>;
}

/** The most a whole-disk snapshot may take, packed (it is made and fetched in memory). */
export const MAX_DISK_SNAPSHOT_BYTES = 512 * 1024 * 1024;

const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;

/** Refuses a size no transfer takes, with a message for people. */
export function checkFileSize(bytes: number): void {
  if (!Number.isSafeInteger(bytes) || bytes < 0) throw new FileTransferError("not a file size");
  if (bytes > MAX_FILE_BYTES)
    throw new FileTransferError(`the file is ${mib(bytes)}; files up to ${mib(MAX_FILE_BYTES)} go in or out`);
}

/**
 * The name a file gets directly in /files: the last part of whatever path it came
 * with, without control characters, never "." or "..", never empty. So nothing a
 * sender names can land outside /files.
 */
export function guestFileName(name: string): string {
  if (typeof name !== "string") throw new FileTransferError("a file needs a name");
  const last = name.split(/[/\\]/).at(-1) ?? "";
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it removes
  const clean = last.replace(/[\u0000-\u001f\u007f]/g, "").trim();
  const short = Array.from(clean).slice(0, MAX_FILE_NAME_CHARS).join("");
  if (short === "" || short === "." || short === "..")
    throw new FileTransferError(`not a file name: ${JSON.stringify(name.slice(0, 40))}`);
  return short;
}

/** `name` or, when `taken` says it is used, "name (2).ext", "name (3).ext", … */
export function freeFileName(name: string, taken: (candidate: string) => boolean): string {
  if (!taken(name)) return name;
  const dot = name.lastIndexOf(".");
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? name.slice(dot) : "";
  for (let n = 2; n < 10_000; n++) {
    const candidate = `${stem} (${n})${ext}`;
    if (!taken(candidate)) return candidate;
  }
  throw new FileTransferError(`too many files named ${JSON.stringify(name)}`);
}

/** One upload, put together in order: the whole file only once every byte is in and checks out. */
export class UploadBuffer {
  private readonly data: Uint8Array;
  private received = 0;

  constructor(
    readonly name: string,
    readonly bytes: number,
  ) {
    checkFileSize(bytes);
    this.data = new Uint8Array(bytes);
  }

  get receivedBytes(): number {
    return this.received;
  }

  /** Takes the next piece; anything out of order, too big or past the end is refused. */
  write(offset: number, chunk: Uint8Array): void {
    if (!(chunk instanceof Uint8Array)) throw new FileTransferError("a piece of a file must be bytes");
    if (offset !== this.received)
      throw new FileTransferError(`piece at byte ${offset}, expected byte ${this.received}`);
    if (chunk.length > MAX_FILE_CHUNK_BYTES) throw new FileTransferError("piece too big");
    if (offset + chunk.length > this.bytes) throw new FileTransferError("more bytes than the file has");
    this.data.set(chunk, offset);
    this.received += chunk.length;
  }

  /** The whole file, once every byte is in and its SHA-256 is `sha256`. */
  async finish(sha256: string): Promise<Uint8Array> {
    if (this.received !== this.bytes)
      throw new FileTransferError(`the upload ended after ${this.received} of ${this.bytes} bytes`);
    if (typeof sha256 !== "string" || !SHA256_PATTERN.test(sha256))
      throw new FileTransferError("not a SHA-256");
    const actual = await sha256Hex(this.data);
    if (actual !== sha256) throw new FileTransferError("the file arrived damaged (its SHA-256 differs)");
    return this.data;
  }
}

/** Numbered transfers, at most `max` at once; one that ends (or fails) frees its place. */
export class TransferTable<T> {
  private readonly open = new Map<number, T>();
  private nextId = 1;

  constructor(
    private readonly what: string,
    private readonly max = MAX_OPEN_FILE_TRANSFERS,
  ) {}

  add(entry: T): number {
    if (this.open.size >= this.max)
      throw new FileTransferError(`${this.max} ${this.what}s are already under way; wait for one to end`);
    const id = this.nextId++;
    this.open.set(id, entry);
    return id;
  }

  get(id: number): T {
    const entry = this.open.get(id);
    if (entry === undefined) throw new FileTransferError(`no ${this.what} ${id} under way`);
    return entry;
  }

  delete(id: number): void {
    this.open.delete(id);
  }

  clear(): void {
    this.open.clear();
  }
}
