// Files into and out of a VM, in the DOM: a file dropped on the shell (or picked
// with the button) goes to the guest's /files; the files there are listed with
// a Download button each; one progress bar and a Cancel for the transfer under
// way. Which VM is behind it (this tab's worker, a remote host) is the port's
// business.

import { errorMessage } from "../core/util/errors.ts";
import { formatBytes } from "../core/util/format.ts";
import { downloadDiskThrough, downloadThrough, FileCancel, uploadThrough } from "../core/vm/file-pump.ts";
import { checkFileSize, type GuestFileEntry, type GuestFilePort } from "../core/vm/file-transfer.ts";
import { downloadFile } from "./download.ts";
import { Lifetime } from "./lifetime.ts";

function make<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
): HTMLElementTagNameMap[K] {
  return Object.assign(document.createElement(tag), props);
}

export class FilePanel {
  private readonly lifetime = new Lifetime();
  private readonly input = make("input", { type: "file", hidden: true });
  private readonly pick = make("button", { type: "button", textContent: "Upload a file…" });
  private readonly refresh = make("button", { type: "button", textContent: "Show files in /files" });
  /** Shown for a VM with a disk of its own (the Debian guest): all of it as one tar.gz. */
  private readonly diskButton = make("button", {
    type: "button",
    textContent: "Download the whole disk",
    hidden: true,
  });
  private readonly progress = make("progress", { hidden: true });
  private readonly status = make("span", { className: "muted" });
  private readonly cancelButton = make("button", { type: "button", textContent: "Cancel", hidden: true });
  private readonly list = make("ul", { className: "file-list" });
  private cancel: FileCancel | null = null;

  /** `port` is the VM's file calls now (null while no VM runs); `dropTarget` takes dropped files. */
  constructor(
    private readonly root: HTMLElement,
    dropTarget: HTMLElement,
    private readonly port: () => GuestFilePort | null,
  ) {
    this.progress.setAttribute("aria-label", "File transfer");
    this.status.setAttribute("role", "status");
    this.status.setAttribute("aria-live", "polite");
    this.input.setAttribute("aria-label", "File to put in the VM's /files");
    const bar = make("div", { className: "toolbar" });
    bar.append(
      this.pick,
      this.refresh,
      this.diskButton,
      this.input,
      this.progress,
      this.cancelButton,
      this.status,
    );
    root.replaceChildren(bar, this.list);
    const { signal } = this.lifetime;
    this.pick.addEventListener("click", () => this.input.click(), { signal });
    this.input.addEventListener(
      "change",
      () => {
        const files = [...(this.input.files ?? [])];
        this.input.value = "";
        void this.uploadAll(files);
      },
      { signal },
    );
    this.refresh.addEventListener("click", () => void this.showList(), { signal });
    this.diskButton.addEventListener("click", () => void this.downloadDisk(), { signal });
    this.cancelButton.addEventListener("click", () => this.cancel?.cancel(), { signal });
    dropTarget.addEventListener(
      "dragover",
      (event) => {
        if (!event.dataTransfer?.types.includes("Files")) return;
        event.preventDefault();
        event.dataTransfer.dropEffect = "copy";
      },
      { signal },
    );
    dropTarget.addEventListener(
      "drop",
      (event) => {
        const files = [...(event.dataTransfer?.files ?? [])];
        if (files.length === 0) return;
        event.preventDefault();
        void this.uploadAll(files);
      },
      { signal },
    );
  }

  /** Enables the buttons while a VM runs. */
  setAvailable(available: boolean): void {
    this.root.hidden = !available;
    if (!available) this.list.replaceChildren();
  }

  /** Whether the VM behind the panel has a disk of its own to download whole. */
  setDisk(hasDisk: boolean): void {
    this.diskButton.hidden = !hasDisk;
  }

  dispose(): void {
    this.cancel?.cancel();
    this.lifetime.end();
  }

  private async uploadAll(files: File[]): Promise<void> {
    for (const file of files) if (!(await this.upload(file))) break;
    await this.showList();
  }

  private async upload(file: File): Promise<boolean> {
    return this.transfer(`Uploading ${file.name}`, async (cancel, onProgress) => {
      checkFileSize(file.size);
      const port = this.requirePort();
      const data = new Uint8Array(await file.arrayBuffer());
      const name = await uploadThrough(port, file.name, data, { cancel, onProgress });
      return `${file.name} is in the VM as /files/${name} (${formatBytes(data.length)})`;
    });
  }

  private async download(name: string): Promise<boolean> {
    return this.transfer(`Downloading ${name}`, async (cancel, onProgress) => {
      const file = await downloadThrough(this.requirePort(), name, { cancel, onProgress });
      downloadFile(file.name, file.data as Uint8Array<ArrayBuffer>, "application/octet-stream");
      return `Downloaded /files/${file.name} (${formatBytes(file.data.length)}, SHA-256 ${file.sha256.slice(0, 12)}…)`;
    });
  }

  private async downloadDisk(): Promise<boolean> {
    return this.transfer("Packing the VM's disk (it reads every file first)", async (cancel, onProgress) => {
      const file = await downloadDiskThrough(this.requirePort(), {
        cancel,
        onProgress: (done, total) => {
          onProgress(done, total);
          this.status.textContent = `Downloading the VM's disk… ${formatBytes(done)} of ${formatBytes(total)}`;
        },
      });
      downloadFile(file.name, file.data as Uint8Array<ArrayBuffer>, "application/gzip");
      return `Downloaded the whole disk as ${file.name} (${formatBytes(file.data.length)}, SHA-256 ${file.sha256.slice(0, 12)}…)`;
    });
  }

  /** Runs one transfer with the progress bar and Cancel; one at a time. */
  private async transfer(
    label: string,
    run: (cancel: FileCancel, onProgress: (done: number, total: number) => void) => Promise<string>,
  ): Promise<boolean> {
    if (this.cancel) {
      this.setStatus("Another transfer is under way: wait for it or cancel it.", "busy");
      return false;
    }
    const cancel = new FileCancel();
    this.cancel = cancel;
    this.progress.hidden = false;
    this.progress.value = 0;
    this.cancelButton.hidden = false;
    this.setStatus(`${label}…`, "running");
    try {
      const done = await run(cancel, (doneBytes, totalBytes) => {
        this.progress.max = Math.max(1, totalBytes);
        this.progress.value = doneBytes;
        this.status.textContent = `${label}… ${formatBytes(doneBytes)} of ${formatBytes(totalBytes)}`;
      });
      this.setStatus(done, "done");
      return true;
    } catch (err) {
      this.setStatus(`${label} failed: ${errorMessage(err)}`, "failed");
      return false;
    } finally {
      this.cancel = null;
      this.progress.hidden = true;
      this.cancelButton.hidden = true;
    }
  }

  private setStatus(text: string, state: string): void {
    this.status.textContent = text;
    this.root.dataset.transfer = state;
  }

  private requirePort(): GuestFilePort {
    const port = this.port();
    if (!port) throw new Error("no VM is running");
    return port;
  }

  private async showList(): Promise<void> {
    let files: GuestFileEntry[];
    try {
      files = await this.requirePort().fileList();
    } catch (err) {
      this.setStatus(`Could not list /files: ${errorMessage(err)}`, "failed");
      return;
    }
    if (files.length === 0) {
      this.list.replaceChildren(make("li", { className: "muted", textContent: "/files is empty" }));
      return;
    }
    this.list.replaceChildren(
      ...files.map((file) => {
        const item = make("li");
        const button = make("button", { type: "button", textContent: "Download" });
        button.dataset.file = file.name;
        button.setAttribute("aria-label", `Download ${file.name}`);
        button.addEventListener("click", () => void this.download(file.name)); // goes with the list
        item.append(make("span", { textContent: `${file.name} (${formatBytes(file.bytes)})` }), " ", button);
        return item;
      }),
    );
  }
}
