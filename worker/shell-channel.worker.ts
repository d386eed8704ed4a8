// Entry point of the remote shell's channel worker (shell-channels.ts).
import type { ShellChannelEvent, ShellChannelRequest } from "./api.ts";
import { ShellChannels } from "./shell-channels.ts";

const scope = self as unknown as {
  postMessage(message: ShellChannelEvent, transfer: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent<ShellChannelRequest>) => void): void;
};
const channels = new ShellChannels((event, transfer = []) => scope.postMessage(event, transfer));
scope.addEventListener("message", (event) => channels.handle(event.data));
