import { createExecutionContext, env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createApp } from "../../src/app.ts";
import { signedIn } from "../acme/helpers.ts";
import { checkingFetch } from "../contract/check-responses.ts";
import { BASE, expectProblem, newConnection } from "./helpers.ts";

afterEach(() => {
  vi.restoreAllMocks();
});

/** A body that sends a first chunk, then fails as the runtime does when the client goes mid-body. */
function bodyBreakingOff(first = '{"firstName":"Ada",'): ReadableStream<Uint8Array> {
  let sent = false;
  return new ReadableStream({
    pull(controller) {
      if (sent) {
        controller.error(new Error("Network connection lost"));
        return;
      }
      sent = true;
      controller.enqueue(new TextEncoder().encode(first));
    },
  });
}

/**
 * Sends a request whose body breaks off straight to the Worker's app (a stream's error does not
 * cross SELF.fetch: the Worker would see a body that merely ends), checking the answer against
 * the OpenAPI documents; returns it with the levels of the lines logged meanwhile.
 */
async function sendBrokenOff(path: string, headers: Record<string, string>) {
  const spies = (["log", "warn", "error"] as const).map((level) =>
    vi.spyOn(console, level).mockImplementation(() => {}),
  );
  const app = createApp();
  const fetch = checkingFetch(
    async (input, init) => app.fetch(new Request(input, init), env, createExecutionContext()),
    () => true,
  );
  const res = await fetch(`${BASE}${path}`, { method: "POST", headers, body: bodyBreakingOff() });
  const levels = spies.flatMap((spy) =>
    spy.mock.calls.map((args) => {
      const line = JSON.parse(String(args[0])) as { level: string; message: string };
      return `${line.level} ${line.message}`;
    }),
  );
  vi.restoreAllMocks();
  return { res, levels };
}

function expectLoggedBelowError(levels: string[]) {
  expect(levels).toContain("warn request body broke off");
  expect(levels.filter((l) => l.startsWith("error"))).toEqual([]);
}

const JSON_TYPE = { "content-type": "application/json" };

describe("a request body that breaks off (client gone, bad chunked encoding)", () => {
  it.each([
    ["chunked (read by the body limit, before the API key is checked)", {}, false],
    ["chunked, with an API key", {}, true],
    ["with a Content-Length (read by the JSON body check)", { "content-length": "100" }, true],
  ])("integration, %s: 400 problem+json, logged at warn", async (_name, extra, withKey) => {
    const { apiKey } = await newConnection();
    const auth: Record<string, string> = withKey ? { authorization: `Bearer ${apiKey}` } : {};
    const { res, levels } = await sendBrokenOff("/api/v1/contacts", { ...JSON_TYPE, ...auth, ...extra });
    const body = await expectProblem(res, 400, "validation_failed");
    expect(body.detail).toMatch(/broke off/);
    expect(JSON.stringify(body)).not.toMatch(/\/work\/|\bat \w|stack/);
    expectLoggedBelowError(levels);
  });

  it("integration, an import read by its own route: 400", async () => {
    const { apiKey } = await newConnection();
    const { res, levels } = await sendBrokenOff("/api/v1/imports", {
      authorization: `Bearer ${apiKey}`,
      "content-type": "text/csv",
      "content-length": "100",
    });
    await expectProblem(res, 400, "validation_failed");
    expectLoggedBelowError(levels);
  });

  it("integration, a webhook read as text by the receiver: 400", async () => {
    const { connectionId } = await newConnection();
    const { res, levels } = await sendBrokenOff(`/webhooks/acme/${connectionId}`, {
      ...JSON_TYPE,
      "content-length": "100",
    });
    await expectProblem(res, 400, "validation_failed");
    expectLoggedBelowError(levels);
  });

  it.each([
    ["chunked, before the token is checked", {}, false],
    ["with a Content-Length and a token", { "content-length": "100" }, true],
  ])("Acme, %s: 400 in Acme's format, logged at warn", async (_name, extra, withToken) => {
    const { token } = await signedIn();
    const auth: Record<string, string> = withToken ? { authorization: `Bearer ${token}` } : {};
    const { res, levels } = await sendBrokenOff("/acme/v1/contacts", { ...JSON_TYPE, ...auth, ...extra });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      error: { code: "validation_failed", message: expect.stringMatching(/broke off/) },
    });
    expectLoggedBelowError(levels);
  });

  it.each([
    ["chunked", {}],
    ["with a Content-Length", { "content-length": "100" }],
  ])("Acme's token endpoint, %s: 400 invalid_request (RFC 6749)", async (_name, extra) => {
    const { res, levels } = await sendBrokenOff("/acme/oauth/token", {
      "content-type": "application/x-www-form-urlencoded",
      ...extra,
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: "invalid_request",
      error_description: expect.stringMatching(/broke off/),
    });
    expectLoggedBelowError(levels);
  });
});
