import { connect } from "node:net";
import { describe, expect, it } from "vitest";
import { base, newConnection } from "./helpers.ts";

/**
 * Writes `head` (request line and headers) and `body` over a raw socket, then closes its sending
 * side (so the server sees the body end there) and returns everything the server answered before
 * closing ("" if it closed without an answer).
 */
function rawExchange(head: string, body: string): Promise<string> {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const received: Buffer[] = [];
    socket.setTimeout(10_000, () => socket.destroy(new Error("no answer within 10 s")));
    socket.on("data", (chunk) => received.push(chunk));
    socket.on("error", (error) => {
      if ((error as NodeJS.ErrnoException).code === "ECONNRESET") resolve(Buffer.concat(received).toString());
      else reject(error);
    });
    socket.on("close", () => resolve(Buffer.concat(received).toString()));
    socket.on("connect", () => {
      socket.write(`${head.replace(/\n/g, "\r\n")}\r\n\r\n`);
      socket.write(body);
      socket.end();
    });
  });
}

/**
 * Under `wrangler dev`, Miniflare's entry worker sits in front of ours and answers a body that
 * breaks off itself, 500 with its own stack, whatever our Worker does (even on a route that never
 * reads the body): cloudflare/workers-sdk#15203. Deployed, there is no such layer and our Worker
 * answers (test/integration/broken-body.test.ts covers that answer in workerd).
 */
function isDevProxyFailure(answer: string): boolean {
  return (
    answer.startsWith("HTTP/1.1 500 ") &&
    /Network connection lost[\s\S]*miniflare[\s\S]*entry\.worker\.js/.test(answer)
  );
}

/** Nothing, or a 4xx without a stack trace or a file path of the machine; never our Worker's 5xx. */
function expectClientErrorOrNothing(answer: string) {
  if (answer === "" || isDevProxyFailure(answer)) return;
  const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
  expect(status, answer).toBeGreaterThanOrEqual(400);
  expect(status, answer).toBeLessThan(500);
  expect(answer).not.toMatch(/\n\s+at |\.ts:\d|\/work\/|node_modules|file:\/\//);
}

/** The dev server still answers afterwards (a dropped upload must not take it down). */
async function expectStillServing() {
  const res = await fetch(`${base}/health`);
  expect(res.status).toBe(200);
}

describe("request bodies that break off, over a raw socket to wrangler dev", () => {
  it.each([
    ["the integration", "/api/v1/contacts", true],
    ["Acme", "/acme/v1/contacts", false],
  ])(
    "%s: a chunked body with an invalid chunk size gets no 5xx of ours and no stack, and the server stays up",
    async (_name, path, withKey) => {
      const auth = withKey ? `\nAuthorization: Bearer ${(await newConnection()).apiKey}` : "";
      const answer = await rawExchange(
        `POST ${path} HTTP/1.1\nHost: ${new URL(base).host}\nContent-Type: application/json\nTransfer-Encoding: chunked\nConnection: close${auth}`,
        '5\r\n{"a":\r\nZZ\r\n1}\r\n0\r\n\r\n',
      );
      expectClientErrorOrNothing(answer);
      await expectStillServing();
    },
  );

  it.each([
    ["the integration, chunked", "/api/v1/contacts", "Transfer-Encoding: chunked", '10\r\n{"firstName":"Ad'],
    ["the integration, with a Content-Length", "/api/v1/contacts", "Content-Length: 500", '{"firstName":"Ad'],
    ["Acme, chunked", "/acme/v1/contacts", "Transfer-Encoding: chunked", '10\r\n{"firstName":"Ad'],
    ["Acme, with a Content-Length", "/acme/v1/contacts", "Content-Length: 500", '{"firstName":"Ad'],
  ])(
    "%s: a client that stops sending mid-body gets a 4xx or nothing (never our 5xx), and the server stays up",
    async (_name, path, framing, body) => {
      const { apiKey } = await newConnection();
      const answer = await rawExchange(
        `POST ${path} HTTP/1.1\nHost: ${new URL(base).host}\nContent-Type: application/json\n${framing}\nAuthorization: Bearer ${apiKey}\nConnection: close`,
        body,
      );
      expectClientErrorOrNothing(answer);
      await expectStillServing();
    },
  );
});
