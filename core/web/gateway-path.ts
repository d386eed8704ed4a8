// Which published port a URL under `/vm/` names: `/vm/<ref>/<rest>` with `ref`
// a VM id or a unique published name, optionally `<ref>:<port>`. Pure, so the
// service worker, the page and the server read addresses alike.
import { WEB_NAME_PATTERN } from "./web-records.ts";

export interface GatewayTarget {
  ref: string;
  port: number | undefined;
  /** Path and query for the guest ("/" at least). */
  target: string;
}

const VM_ID = /^[0-9a-f]{32}$/;

/** `pathname` relative to the app's base (e.g. "/vm/blog/a.html"), with `search` ("?x=1" or ""). */
export function parseGatewayPath(pathname: string, search: string): GatewayTarget | null {
  const m = /^\/vm\/([^/]+)(\/.*)?$/.exec(pathname);
  if (!m) return null;
  const [refText = "", portText] = decodeURIComponent(m[1]!).split(":");
  if (!VM_ID.test(refText) && !WEB_NAME_PATTERN.test(refText)) return null;
  let port: number | undefined;
  if (portText !== undefined) {
    if (!/^\d{1,5}$/.test(portText) || Number(portText) < 1 || Number(portText) > 65535) return null;
    port = Number(portText);
  }
  return { ref: refText, port, target: `${m[2] ?? "/"}${search}` };
}
