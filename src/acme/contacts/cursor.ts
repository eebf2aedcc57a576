import { fromBase64Url, toBase64Url } from "../../lib/ids.ts";
import { AcmeError } from "../errors.ts";

// Cursors are opaque to clients; inside, the id of the last contact on the page.
const PREFIX = "c1:";

export function encodeCursor(lastId: string): string {
  return toBase64Url(new TextEncoder().encode(PREFIX + lastId));
}

export function decodeCursor(cursor: string): string {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(fromBase64Url(cursor));
  } catch {
    throw invalid();
  }
  if (!text.startsWith(PREFIX) || !/^ct_[0-9a-z]{26}$/.test(text.slice(PREFIX.length))) throw invalid();
  return text.slice(PREFIX.length);
}

function invalid() {
  return new AcmeError("invalid_cursor", "The paging cursor is not valid; start again without `after`.", {
    details: [{ field: "after", message: "not a cursor issued by this API" }],
  });
}
