// A local HTTP receiver for the Worker's outgoing webhooks (destinations): it records every request
// and answers what the test says. Loopback only; the e2e server's vars allow loopback destinations.
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface ReceivedHook {
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** What the receiver answers to its `n`th request (1-based). */
export type HookAnswer = (n: number) => { status: number; headers?: Record<string, string>; body?: string };

export interface WebhookReceiver {
  /** Where to send: `http://127.0.0.1:<port>/hooks`. */
  url: string;
  received: ReceivedHook[];
  answer: HookAnswer;
  /** Stops listening and drops open connections; safe to call twice. */
  close(): Promise<void>;
}

function headersOf(request: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(", ") : value;
  }
  return headers;
}

/** Starts a receiver on a free loopback port. */
export async function startWebhookReceiver(
  answer: HookAnswer = () => ({ status: 200 }),
): Promise<WebhookReceiver> {
  const receiver: Omit<WebhookReceiver, "url" | "close"> = { received: [], answer };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      receiver.received.push({
        path: request.url ?? "",
        headers: headersOf(request),
        body: Buffer.concat(chunks).toString("utf8"),
      });
      const reply = receiver.answer(receiver.received.length);
      response.writeHead(reply.status, { "content-type": "text/plain", ...reply.headers });
      response.end(reply.body ?? "ok");
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let closed: Promise<void> | null = null;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${port}/hooks`,
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closed;
    },
  });
}
