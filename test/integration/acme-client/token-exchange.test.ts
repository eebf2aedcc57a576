import { describe, expect, it } from "vitest";
import {
  DEFAULT_TOKEN_LIFETIME_SECONDS,
  requestAccessToken,
} from "../../../src/integration/acme-client/token-exchange.ts";
import { timedExchange } from "../../../src/integration/acme-client/transport.ts";
import { toBase64Url } from "../../../src/lib/ids.ts";
import { SecretKeyRing } from "../../../src/lib/secret-box.ts";
import { problemOf } from "../helpers.ts";

const KEYS = new SecretKeyRing([toBase64Url(new Uint8Array(32).fill(9))]);
const connection = {
  id: "conn_token",
  acmeClientId: "client:with/odd chars",
  acmeClientSecretEnc: await KEYS.seal("s3cret&more", "conn_token"),
};

/** Runs the grant against a transport that answers `answer`; records what was sent. */
async function grant(answer: (request: Request) => Response | Promise<Response>) {
  const sent: Request[] = [];
  const transport = async (request: Request) => {
    sent.push(request.clone());
    return answer(request);
  };
  const result = requestAccessToken({
    exchange: (request, timeoutMs) => timedExchange(transport, request, timeoutMs),
    baseUrl: "https://acme.test/acme",
    connection,
    secretKeys: KEYS,
    timeoutMs: 1000,
  });
  return { result, sent };
}

describe("token exchange (client credentials grant)", () => {
  it("posts the grant with HTTP Basic credentials and returns the token and its lifetime", async () => {
    const { result, sent } = await grant(() =>
      Response.json({ access_token: "tok", token_type: "Bearer", expires_in: 3600 }),
    );
    expect(await result).toEqual({ accessToken: "tok", expiresIn: 3600 });
    const [request] = sent;
    expect(request?.method).toBe("POST");
    expect(request?.url).toBe("https://acme.test/acme/oauth/token");
    expect(request?.headers.get("content-type")).toBe("application/x-www-form-urlencoded");
    expect(request?.headers.get("authorization")).toBe(
      `Basic ${btoa(`${encodeURIComponent(connection.acmeClientId)}:${encodeURIComponent("s3cret&more")}`)}`,
    );
    expect(await request?.text()).toBe("grant_type=client_credentials");
  });

  it.each([400, 401])("a %i is 502 acme_auth_failed and says nothing of Acme's body", async (status) => {
    const { result } = await grant(() =>
      Response.json({ error: "invalid_client", error_description: "secret s3cret&more wrong" }, { status }),
    );
    const problem = await problemOf(result);
    expect([problem.code, problem.status]).toEqual(["acme_auth_failed", 502]);
    expect(problem.message).not.toContain("s3cret");
  });

  it("a 429 is acme_rate_limited with Acme's Retry-After, naming the token endpoint", async () => {
    const { result } = await grant(() => Response.json({}, { status: 429, headers: { "retry-after": "7" } }));
    const problem = await problemOf(result);
    expect([problem.code, problem.options.headers?.["Retry-After"]]).toEqual(["acme_rate_limited", "7"]);
    expect(problem.message).toMatch(/token endpoint/);
  });

  it.each([
    ["soon", "1"],
    ["", "1"],
    ["-5", "1"],
    ["1.5", "1"],
    ["0", "1"],
    ["99999999999", "86400"],
    [new Date(Date.now() + 30_000).toUTCString(), /^(29|30|31)$/],
  ])("a 429 with Retry-After %j passes on whole seconds, at least 1 (%s)", async (value, expected) => {
    const { result } = await grant(() =>
      Response.json({}, { status: 429, headers: { "retry-after": value } }),
    );
    const problem = await problemOf(result);
    expect(problem.code).toBe("acme_rate_limited");
    expect(problem.options.headers?.["Retry-After"]).toMatch(
      typeof expected === "string" ? new RegExp(`^${expected}$`) : expected,
    );
  });

  it.each([
    ["a token with a line break", { access_token: "tok\r\nX-Injected: 1", expires_in: 3600 }],
    ["an empty token", { access_token: "", expires_in: 3600 }],
    ["a token of non-ASCII text", { access_token: "tök", expires_in: 3600 }],
    ["a negative lifetime", { access_token: "tok", expires_in: -1 }],
    ["a fractional lifetime", { access_token: "tok", expires_in: 1.5 }],
    ["a lifetime as text", { access_token: "tok", expires_in: "3600" }],
  ])("a 200 with %s is acme_bad_response, never used", async (_, body) => {
    const { result } = await grant(() => Response.json(body));
    expect((await problemOf(result)).code).toBe("acme_bad_response");
  });

  it.each([
    ["without expires_in (optional, RFC 6749 5.1)", { access_token: "tok", token_type: "Bearer" }],
    ["with expires_in null", { access_token: "tok", token_type: "Bearer", expires_in: null }],
  ])("a 200 %s is a token of the default lifetime", async (_, body) => {
    const { result } = await grant(() => Response.json(body));
    expect(await result).toEqual({ accessToken: "tok", expiresIn: DEFAULT_TOKEN_LIFETIME_SECONDS });
    expect(DEFAULT_TOKEN_LIFETIME_SECONDS).toBeGreaterThan(0);
  });

  it.each([
    ["a zero lifetime", { access_token: "tok", expires_in: 0 }],
    ["a lifetime as an object", { access_token: "tok", expires_in: {} }],
    ["no token, only a lifetime", { expires_in: 3600 }],
  ])("but a 200 with %s is still acme_bad_response", async (_, body) => {
    const { result } = await grant(() => Response.json(body));
    expect((await problemOf(result)).code).toBe("acme_bad_response");
  });

  it("a lifetime beyond a day is taken as a day", async () => {
    const { result } = await grant(() => Response.json({ access_token: "tok", expires_in: 10 ** 12 }));
    expect(await result).toEqual({ accessToken: "tok", expiresIn: 86_400 });
  });

  it("a 5xx is acme_unavailable with Retry-After 1 when Acme gives none", async () => {
    const { result } = await grant(() => new Response("<html>down</html>", { status: 503 }));
    const problem = await problemOf(result);
    expect([problem.code, problem.options.headers?.["Retry-After"]]).toEqual(["acme_unavailable", "1"]);
  });

  it("no answer at all (the transport fails, or the timeout runs out) is acme_unavailable", async () => {
    const unreachable = await problemOf(
      (
        await grant(() => {
          throw new TypeError("connection refused");
        })
      ).result,
    );
    expect([unreachable.code, unreachable.options.headers?.["Retry-After"]]).toEqual([
      "acme_unavailable",
      "1",
    ]);
    const silent = requestAccessToken({
      exchange: (request) => timedExchange(() => new Promise<Response>(() => {}), request, 1),
      baseUrl: "https://acme.test/acme",
      connection,
      secretKeys: KEYS,
      timeoutMs: 1,
    });
    expect((await problemOf(silent)).code).toBe("acme_unavailable");
  });

  it.each([
    ["a 200 without a token", () => Response.json({ token_type: "Bearer" })],
    ["a 200 whose lifetime is not a number", () => Response.json({ access_token: "t", expires_in: "3600" })],
    ["a 200 that is not JSON", () => new Response("access_token=t")],
    ["a 403", () => Response.json({}, { status: 403 })],
  ])("%s is 502 acme_bad_response", async (_label, answer) => {
    const { result } = await grant(answer);
    expect((await problemOf(result)).code).toBe("acme_bad_response");
  });
});

describe("timed exchange", () => {
  it("parses a JSON answer and keeps status and headers; an empty body is null", async () => {
    const outcome = await timedExchange(
      async () => Response.json({ a: 1 }, { status: 201, headers: { etag: '"1"' } }),
      new Request("https://acme.test/x"),
      1000,
    );
    expect(outcome).toMatchObject({ kind: "response", response: { status: 201, body: { a: 1 } } });
    if (outcome.kind === "response") expect(outcome.response.headers.get("etag")).toBe('"1"');
    const empty = await timedExchange(
      async () => new Response(null, { status: 204 }),
      new Request("https://acme.test/x"),
      1000,
    );
    expect(empty).toMatchObject({ kind: "response", response: { status: 204, body: null } });
  });

  it("a 5xx body that is not JSON is no error: the status speaks for itself", async () => {
    const outcome = await timedExchange(
      async () => new Response("<html>bad gateway</html>", { status: 502 }),
      new Request("https://acme.test/x"),
      1000,
    );
    expect(outcome).toMatchObject({ kind: "response", response: { status: 502, body: null } });
  });

  it("aborts the request when the timeout runs out, and says timeout", async () => {
    let signal: AbortSignal | undefined;
    const outcome = await timedExchange(
      (request) => {
        signal = request.signal;
        return new Promise<Response>(() => {});
      },
      new Request("https://acme.test/x"),
      1,
    );
    expect(outcome).toEqual({ kind: "timeout" });
    expect(signal?.aborted).toBe(true);
  });

  it("a transport that throws is unreachable", async () => {
    const outcome = await timedExchange(
      async () => {
        throw new TypeError("network down");
      },
      new Request("https://acme.test/x"),
      1000,
    );
    expect(outcome).toEqual({ kind: "unreachable" });
  });
});
