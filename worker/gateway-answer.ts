// The service worker's side of a gateway answer (worker/sw.ts): the app page
// streams it on a MessagePort (web/web-gateway.ts) as a head, body chunks and an
// end; this turns it into what a Response wants, the head and a ReadableStream
// of the body, so the first bytes reach the tab as the host sends them.
import { GATEWAY_CANCEL, type GatewayFrame, parseGatewayFrame } from "../core/web/gateway-messages.ts";

type Head = Extract<GatewayFrame, { type: "head" }>;

/**
 * The page's answer as it comes on the port: its head, then its body as a
 * stream fed by the chunks, which ends with the page's end (or an error when the
 * body was cut, the page says something out of order or falls silent).
 */
export class AnswerPort {
  readonly head: Promise<Head | null>;
  readonly body: ReadableStream<Uint8Array>;
  private gotHead: (h: Head | null) => void = () => {};
  private controller: ReadableStreamDefaultController<Uint8Array> | null = null;
  private cancelTimer: () => void = () => {};
  private headSeen = false;
  /** Why the answer failed, as the status to give if it failed before its head. */
  failure: { status: number; message: string } | null = null;
  private over = false;

  constructor(
    private readonly port: MessagePort,
    /** How long the page may be silent: before its head, and between chunks. */
    private readonly silenceMs: number,
  ) {
    this.head = new Promise((resolve) => {
      this.gotHead = resolve;
    });
    this.body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        this.controller = controller;
      },
      cancel: () => this.cancel(),
    });
    port.onmessage = (event) => this.onFrame(parseGatewayFrame(event.data));
    this.rearm();
  }

  /** The reader gave the body up: the page is told, and the port closes. */
  cancel(): void {
    if (this.over) return;
    this.port.postMessage(GATEWAY_CANCEL);
    this.close();
  }

  private onFrame(frame: GatewayFrame | null): void {
    if (this.over) return;
    this.rearm();
    if (frame?.type === "head" && !this.headSeen) {
      this.headSeen = true;
      this.gotHead(frame);
      return;
    }
    if (!this.headSeen || frame === null || frame.type === "head") {
      this.fail(502, "the app's page answered out of order");
      return;
    }
    if (frame.type === "body") {
      this.controller?.enqueue(new Uint8Array(frame.bytes));
      return;
    }
    if (frame.error === null) this.controller?.close();
    else this.controller?.error(new Error(frame.error));
    this.close();
  }

  private fail(status: number, message: string): void {
    this.failure = { status, message };
    this.gotHead(null);
    this.controller?.error(new Error(message));
    this.port.postMessage(GATEWAY_CANCEL);
    this.close();
  }

  /** The page has `silenceMs` for each frame. */
  private rearm(): void {
    this.cancelTimer();
    const timer = setTimeout(() => this.fail(504, "the app's page did not answer in time"), this.silenceMs);
    this.cancelTimer = () => clearTimeout(timer);
  }

  private close(): void {
    this.over = true;
    this.cancelTimer();
    this.port.onmessage = null;
    this.port.close();
  }
}
