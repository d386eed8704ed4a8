// Files into and out of the guest through the emulator's 9p filesystem, which
// the guest mounts at /files (guest-files-options.ts). An upload arrives in
// pieces and appears in /files only once it is whole and its SHA-256 checks
// out; a download is a copy of the file as it was when asked for, read in
// pieces. The guest's own writes to /files are held to a quota, since the 9p
// filesystem lives in this thread's memory.
import type { V86 } from "v86";
import { sha256Hex } from "../core/util/bytes.ts";
import type { GuestFileDownload, GuestFileEntry } from "../core/vm/file-transfer.ts";
import {
  checkFileSize,
  FileTransferError,
  freeFileName,
  guestFileName,
  MAX_FILE_BYTES,
  MAX_FILE_CHUNK_BYTES,
  TransferTable,
  UploadBuffer,
} from "../core/vm/file-transfer.ts";
import { type DiskFs, packDisk } from "./disk-snapshot.ts";
import type { GuestFilesLayout } from "./guest-files-options.ts";

/** What all of /files may hold (the guest's writes past it are dropped). */
export const FILES_QUOTA_BYTES = 3 * MAX_FILE_BYTES;

/** The small guest's: the 9p filesystem is /files. */
export const FILES_ONLY_LAYOUT: GuestFilesLayout = { dir: "/", quotaBytes: FILES_QUOTA_BYTES };

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/** The parts of v86's 9p filesystem (lib/filesystem.js, 0.5.462) this uses. */
interface Fs9p {
  inodes: { mode: number; size: number }[];
  total_size: number;
  SearchPath(path: string): { id: number; parentid: number; name: string };
  read_dir(path: string): string[] | undefined;
  Write(id: number, offset: number, count: number, buffer: Uint8Array | null): Promise<void>;
}

function fsOf(emulator: V86): Fs9p {
  const fs = (emulator as unknown as { fs9p?: Partial<Fs9p> }).fs9p;
  if (
    !fs ||
    !Array.isArray(fs.inodes) ||
    typeof fs.SearchPath !== "function" ||
    typeof fs.read_dir !== "function" ||
    typeof fs.Write !== "function"
  )
    throw new Error("this emulator has no 9p filesystem where v86 0.5.462 keeps it");
  return fs as Fs9p;
}

const isFile = (mode: number) => (mode & S_IFMT) === S_IFREG;

interface Download {
  data: Uint8Array;
}

export class GuestFiles {
  private readonly uploads = new TransferTable<UploadBuffer>("upload");
  private readonly downloads = new TransferTable<Download>("download");
  /** A disk snapshot is being packed (one at a time: it reads every file). */
  private packing = false;

  private constructor(
    private readonly emulator: V86,
    private readonly fs: Fs9p,
    private readonly layout: GuestFilesLayout,
  ) {}

  /** Files for an emulator's 9p filesystem laid out as `layout` says; holds the guest's writes to its quota. */
  static attach(emulator: V86, layout: GuestFilesLayout = FILES_ONLY_LAYOUT): GuestFiles {
    const fs = fsOf(emulator);
    holdToQuota(fs, layout.quotaBytes);
    return new GuestFiles(emulator, fs, layout);
  }

  /** The 9p path of /files/`name`. */
  private path(name: string): string {
    return `${this.layout.dir}${name}`;
  }

  uploadBegin(name: string, bytes: number): number {
    checkFileSize(bytes);
    const clean = guestFileName(name);
    if (this.storedBytes() + bytes > this.layout.quotaBytes)
      throw new FileTransferError(
        this.layout.dir === "/"
          ? "/files is full: remove files there (rm /files/…) to make room"
          : "the VM's disk is full: remove files (rm …) to make room",
      );
    return this.uploads.add(new UploadBuffer(clean, bytes));
  }

  uploadChunk(id: number, offset: number, chunk: Uint8Array): void {
    const upload = this.uploads.get(id);
    try {
      upload.write(offset, chunk);
    } catch (err) {
      this.uploads.delete(id);
      throw err;
    }
  }

  /** Puts the whole file in /files, under its name or a free one like it; resolves with that name. */
  async uploadEnd(id: number, sha256: string): Promise<string> {
    const upload = this.uploads.get(id);
    this.uploads.delete(id);
    const data = await upload.finish(sha256);
    const name = freeFileName(upload.name, (candidate) => this.fs.SearchPath(this.path(candidate)).id !== -1);
    await this.emulator.create_file(this.path(name), data);
    return name;
  }

  uploadCancel(id: number): void {
    this.uploads.delete(id);
  }

  /** The files directly in /files, by name. */
  list(): GuestFileEntry[] {
    const names = this.fs.read_dir(this.layout.dir === "/" ? "/" : this.layout.dir.slice(0, -1)) ?? [];
    return names
      .flatMap((name) => {
        const inode = this.fs.inodes[this.fs.SearchPath(this.path(name)).id];
        return inode && isFile(inode.mode) ? [{ name, bytes: inode.size }] : [];
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** A copy of /files/`name` as it is now, to read in pieces. */
  async downloadBegin(name: string): Promise<GuestFileDownload> {
    const clean = guestFileName(name);
    const found = this.fs.SearchPath(this.path(clean));
    const inode = found.id === -1 ? undefined : this.fs.inodes[found.id];
    if (!inode || !isFile(inode.mode)) throw new FileTransferError(`no file /files/${clean}`);
    checkFileSize(inode.size);
    // read_file gives a view of the filesystem's buffer: copy it, so the guest's later writes do not show.
    const data = (await this.emulator.read_file(this.path(clean))).slice();
    const id = this.downloads.add({ data });
    return { id, name: clean, bytes: data.length, sha256: await sha256Hex(data) };
  }

  /** The whole disk, packed as a tar.gz, to read in pieces (only a guest whose root this filesystem is). */
  async snapshotBegin(now = new Date()): Promise<GuestFileDownload> {
    if (this.layout.dir === "/")
      throw new FileTransferError("this VM has no disk of its own: its files are in /files");
    if (this.packing) throw new FileTransferError("the disk is being packed already");
    this.packing = true;
    try {
      const data = await packDisk(
        this.fs as unknown as DiskFs,
        (path) => this.emulator.read_file(path),
        this.layout.quotaBytes,
      );
      const id = this.downloads.add({ data });
      const name = `disk-${now.toISOString().slice(0, 19).replace(/[:T]/g, "-")}.tar.gz`;
      return { id, name, bytes: data.length, sha256: await sha256Hex(data) };
    } finally {
      this.packing = false;
    }
  }

  downloadChunk(id: number, offset: number, maxBytes = MAX_FILE_CHUNK_BYTES): Uint8Array {
    const { data } = this.downloads.get(id);
    if (!Number.isSafeInteger(offset) || offset < 0) throw new FileTransferError("no such piece of the file");
    // Past the end: nothing (a remote tab asks for a few pieces at once, and the file may end in the first).
    if (offset >= data.length) return new Uint8Array(0);
    const end = Math.min(data.length, offset + Math.max(0, Math.min(maxBytes, MAX_FILE_CHUNK_BYTES)));
    return data.slice(offset, end);
  }

  downloadEnd(id: number): void {
    this.downloads.delete(id);
  }

  dispose(): void {
    this.uploads.clear();
    this.downloads.clear();
  }

  private storedBytes(): number {
    return storedBytes(this.fs);
  }

  /** What the 9p filesystem holds (for a guest whose root it is: its disk use), and may hold. */
  usage(): { usedBytes: number; quotaBytes: number } {
    return { usedBytes: this.storedBytes(), quotaBytes: this.layout.quotaBytes };
  }
}

function storedBytes(fs: Fs9p): number {
  let total = 0;
  for (const inode of fs.inodes) if (inode && isFile(inode.mode)) total += inode.size;
  return total;
}

/**
 * The guest's writes that would make a file bigger than MAX_FILE_BYTES, or /files
 * bigger than the quota, are dropped (v86's 9p server has no way to refuse them).
 * The guest's `df /files` shows the quota.
 */
function holdToQuota(fs: Fs9p, quotaBytes: number): void {
  fs.total_size = quotaBytes;
  const write = fs.Write.bind(fs);
  fs.Write = async (id, offset, count, buffer) => {
    const inode = fs.inodes[id];
    const grows = inode ? Math.max(0, offset + count - inode.size) : 0;
    if (offset + count > MAX_FILE_BYTES || storedBytes(fs) + grows > quotaBytes) return;
    await write(id, offset, count, buffer);
  };
}
