// The create form's image and memory: which guest image a new VM starts from
// (the small busybox one by default) and how much memory it gets. The image's
// saved state has one memory size, the first choice: a VM of that size starts
// in about a second, any other size boots from scratch.
import type { GuestImage } from "./guest.ts";

const mib = (bytes: number) => `${Math.round(bytes / (1024 * 1024))} MiB`;

export interface ChosenGuest {
  imageId: string;
  memoryBytes: number;
}

export class ImageChoice {
  constructor(
    private readonly imageSelect: HTMLSelectElement,
    private readonly memorySelect: HTMLSelectElement,
    private readonly images: GuestImage[],
    signal: AbortSignal,
  ) {
    imageSelect.replaceChildren(
      ...images.map((image) => new Option(`${image.label}: ${image.about}`, image.imageId)),
    );
    imageSelect.addEventListener("change", () => this.fillMemory(), { signal });
    this.fillMemory();
  }

  value(): ChosenGuest {
    const image = this.chosen();
    const memoryBytes = Number(this.memorySelect.value);
    return {
      imageId: image.imageId,
      memoryBytes: image.memoryChoicesBytes.includes(memoryBytes)
        ? memoryBytes
        : image.memoryChoicesBytes[0]!,
    };
  }

  /** "Debian 12, 256 MiB", for a VM's row (the image's id when this build does not know it). */
  describe(imageId: string, memoryBytes: number): string {
    const image = this.images.find((i) => i.imageId === imageId);
    return `${image?.label ?? `image ${imageId.slice(0, 12)}…`}, ${mib(memoryBytes)}`;
  }

  /** Whether VMs of this image have a disk of their own (a 9p root that persists), not just /files. */
  hasDisk(imageId: string): boolean {
    return this.images.find((i) => i.imageId === imageId)?.manifest.filesystem !== undefined;
  }

  private chosen(): GuestImage {
    return this.images.find((i) => i.imageId === this.imageSelect.value) ?? this.images[0]!;
  }

  private fillMemory(): void {
    const [saved, ...others] = this.chosen().memoryChoicesBytes;
    this.memorySelect.replaceChildren(
      new Option(`${mib(saved!)} (starts in about a second)`, String(saved)),
      ...others.map(
        (bytes) => new Option(`${mib(bytes)} (boots from scratch: slower to start)`, String(bytes)),
      ),
    );
    this.memorySelect.disabled = others.length === 0;
  }
}
