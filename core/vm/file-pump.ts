// Moves one file through a GuestFilePort in pieces, with progress and a cancel:
// the page uses it for its own VM (the worker) and for a remote one (the mesh).
// A cancelled or failed upload is cancelled on the host too, so nothing half
// sent ever shows in /files; a download is handed over only whole and checked.

import { sha256Hex } from "../util/bytes.ts";
import {
  checkFileSize,
  FileTransferError,
  type GuestFileDownload,
  type GuestFilePort,
  MAX_DISK_SNAPSHOT_BYTES,
  MAX_FILE_CHUNK_BYTES,
} from "./file-transfer.ts";

export type FileProgress = (doneBytes: number, totalBytes: number) => void;

/** Says a transfer should stop; `cancel` makes the next piece throw. */
export class FileCancel {
  private cancelled = false;
  cancel(): void {
    this.cancelled = true;
  }
  check(): void {
    if (this.cancelled) throw new FileTransferError("cancelled");
  }
}

export interface PumpOptions {
  onProgress?: FileProgress;
  cancel?: FileCancel;
  chunkBytes?: number;
}

/** Sends `data` to /files as `name`; resolves with the name it got there. */
export async function uploadThrough(
  port: GuestFilePort,
  name: string,
  data: Uint8Array,
  o: PumpOptions = {},
): Promise<string> {
  checkFileSize(data.length);
  const chunkBytes = Math.min(o.chunkBytes ?? MAX_FILE_CHUNK_BYTES, MAX_FILE_CHUNK_BYTES);
  const sha256 = await sha256Hex(data);
  o.cancel?.check();
  const id = await port.fileUploadBegin(name, data.length);
  try {
    o.onProgress?.(0, data.length);
    for (let offset = 0; offset < data.length; offset += chunkBytes) {
      o.cancel?.check();
      // A copy of the piece, so the sender's buffer can be handed over (transferred) safely.
      await port.fileUploadChunk(id, offset, data.slice(offset, offset + chunkBytes));
      o.onProgress?.(Math.min(data.length, offset + chunkBytes), data.length);
    }
    o.cancel?.check();
    return await port.fileUploadEnd(id, sha256);
  } catch (err) {
    await port.fileUploadCancel(id).catch(() => {});
    throw err;
  }
}

export interface DownloadedFile {
  name: string;
  data: Uint8Array;
  sha256: string;
}

/** Fetches /files/`name` whole, checked against the SHA-256 its host gave. */
export async function downloadThrough(
  port: GuestFilePort,
  name: string,
  o: PumpOptions = {},
): Promise<DownloadedFile> {
  o.cancel?.check();
  const started = await port.fileDownloadBegin(name);
  return fetchStarted(port, started, o, checkFileSize);
}

/** Fetches the VM's whole disk, packed as a tar.gz by its host, checked against the SHA-256 it gave. */
export async function downloadDiskThrough(port: GuestFilePort, o: PumpOptions = {}): Promise<DownloadedFile> {
  if (!port.fileSnapshotBegin) throw new FileTransferError("this VM has no disk of its own");
  o.cancel?.check();
  const started = await port.fileSnapshotBegin();
  return fetchStarted(port, started, o, (bytes) => {
    if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > MAX_DISK_SNAPSHOT_BYTES)
      throw new FileTransferError("the disk's snapshot is too big to download here");
  });
}

async function fetchStarted(
  port: GuestFilePort,
  started: GuestFileDownload,
  o: PumpOptions,
  checkSize: (bytes: number) => void,
): Promise<DownloadedFile> {
  try {
    checkSize(started.bytes);
    const data = new Uint8Array(started.bytes);
    const chunkBytes = Math.min(o.chunkBytes ?? MAX_FILE_CHUNK_BYTES, MAX_FILE_CHUNK_BYTES);
    o.onProgress?.(0, started.bytes);
    for (let offset = 0; offset < started.bytes; ) {
      o.cancel?.check();
      const chunk = await port.fileDownloadChunk(started.id, offset, chunkBytes);
      if (!(chunk instanceof Uint8Array) || chunk.length === 0 || offset + chunk.length > started.bytes)
        throw new FileTransferError("the VM's host sent a piece that does not fit the file");
      data.set(chunk, offset);
      offset += chunk.length;
      o.onProgress?.(offset, started.bytes);
    }
    if ((await sha256Hex(data)) !== started.sha256)
      throw new FileTransferError("the file arrived damaged (its SHA-256 differs)");
    return { name: started.name, data, sha256: started.sha256 };
  } finally {
    await port.fileDownloadEnd(started.id).catch(() => {});
  }
}
