// The identity stamp's proof of work, off the page's thread: the page asks for
// one slice of nonces at a time, so it can show progress and stop between slices.
import * as Comlink from "comlink";
import { type StampSearch, searchStamp } from "../core/ledger/stamp.ts";

const api: StampSearch = { search: searchStamp };
Comlink.expose(api);
