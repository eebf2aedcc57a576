import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadIntegrationConfig, requireOAuthApp } from "../../src/integration/config.ts";
import { randomSecret } from "../../src/lib/ids.ts";

/** The test env with these vars set (undefined: removed); a fresh object, so nothing cached applies. */
function envWith(vars: Record<string, string | undefined>): Env {
  const copy: Record<string, unknown> = { ...env };
  for (const [name, value] of Object.entries(vars)) {
    if (value === undefined) delete copy[name];
    else copy[name] = value;
  }
  return copy as unknown as Env;
}

describe("SESSION_SLOTS_AHEAD", () => {
  it("is on unless set", () => {
    expect(loadIntegrationConfig(envWith({ SESSION_SLOTS_AHEAD: undefined })).sessionSlotsAhead).toBe(true);
  });

  it.each([
    ["true", true],
    ["1", true],
    ["false", false],
    ["0", false],
  ])("%s turns it %s", (value, expected) => {
    expect(loadIntegrationConfig(envWith({ SESSION_SLOTS_AHEAD: value })).sessionSlotsAhead).toBe(expected);
  });

  it.each(["yes", "off", "", "TRUE"])("%j is refused loudly, naming the var", (value) => {
    expect(() => loadIntegrationConfig(envWith({ SESSION_SLOTS_AHEAD: value }))).toThrow(
      /invalid integration configuration: SESSION_SLOTS_AHEAD/,
    );
  });
});

describe("ACME_BASE_URL", () => {
  it("may stay unset where the mock Acme is in this Worker (ACME_IN_PROCESS, the default Worker)", () => {
    const config = loadIntegrationConfig(envWith({ ACME_IN_PROCESS: "true", ACME_BASE_URL: undefined }));
    expect(config.acmeBaseUrl).toBeUndefined();
  });

  it("is required anywhere else (env.production): the config refuses to load, naming it", () => {
    for (const inProcess of [undefined, "false"]) {
      expect(() =>
        loadIntegrationConfig(envWith({ ACME_IN_PROCESS: inProcess, ACME_BASE_URL: undefined })),
      ).toThrow(/invalid integration configuration: ACME_BASE_URL: required/);
      expect(() => loadIntegrationConfig(envWith({ ACME_IN_PROCESS: inProcess, ACME_BASE_URL: "" }))).toThrow(
        /ACME_BASE_URL: required/,
      );
    }
  });

  it("is taken where set", () => {
    const config = loadIntegrationConfig(
      envWith({ ACME_IN_PROCESS: undefined, ACME_BASE_URL: "https://acme.example.com/acme" }),
    );
    expect(config.acmeBaseUrl).toBe("https://acme.example.com/acme");
  });

  it.each(["not a url", "acme.example.com/acme"])("%j is refused loudly", (value) => {
    expect(() =>
      loadIntegrationConfig(envWith({ ACME_IN_PROCESS: undefined, ACME_BASE_URL: value })),
    ).toThrow(/invalid integration configuration: ACME_BASE_URL/);
  });

  it.each(["yes", "TRUE"])("an ACME_IN_PROCESS of %j is refused loudly", (value) => {
    expect(() => loadIntegrationConfig(envWith({ ACME_IN_PROCESS: value }))).toThrow(
      /invalid integration configuration: ACME_IN_PROCESS/,
    );
  });
});

describe("ENCRYPTION_KEYS", () => {
  const [first, second] = [randomSecret(32), randomSecret(32)];

  it("is the ring, the current key first", () => {
    const { secretKeys } = loadIntegrationConfig(envWith({ ENCRYPTION_KEYS: `${first}, ${second}` }));
    expect(secretKeys.keys).toEqual([first, second]);
  });

  it("falls back to ENCRYPTION_KEY alone as a one-key ring, and wins over it when both are set", () => {
    const alone = loadIntegrationConfig(envWith({ ENCRYPTION_KEYS: undefined, ENCRYPTION_KEY: first }));
    expect(alone.secretKeys.keys).toEqual([first]);
    const both = loadIntegrationConfig(envWith({ ENCRYPTION_KEYS: second, ENCRYPTION_KEY: first }));
    expect(both.secretKeys.keys).toEqual([second]);
  });

  it.each([
    ["neither ENCRYPTION_KEYS nor ENCRYPTION_KEY", { ENCRYPTION_KEYS: undefined, ENCRYPTION_KEY: undefined }],
    ["an empty list", { ENCRYPTION_KEYS: "" }],
    ["a short key", { ENCRYPTION_KEYS: `${first},short` }],
    ["a trailing comma", { ENCRYPTION_KEYS: `${first},` }],
    ["a padded key", { ENCRYPTION_KEYS: `${first}=` }],
  ])("refuses %s loudly, naming the var", (_, vars) => {
    expect(() => loadIntegrationConfig(envWith(vars))).toThrow(
      /invalid integration configuration: ENCRYPTION_KEYS/,
    );
  });

  it("refuses a malformed ENCRYPTION_KEY and a missing or malformed ID_TAG_KEY", () => {
    expect(() =>
      loadIntegrationConfig(envWith({ ENCRYPTION_KEYS: undefined, ENCRYPTION_KEY: "short" })),
    ).toThrow(/ENCRYPTION_KEY:/);
    expect(() => loadIntegrationConfig(envWith({ ID_TAG_KEY: undefined }))).toThrow(/ID_TAG_KEY/);
    expect(() => loadIntegrationConfig(envWith({ ID_TAG_KEY: "short" }))).toThrow(/ID_TAG_KEY/);
  });
});

describe("ACME_OAUTH_CLIENT_ID and ACME_OAUTH_CLIENT_SECRET", () => {
  it("are the product's app at Acme when both are set", () => {
    const config = loadIntegrationConfig(
      envWith({ ACME_OAUTH_CLIENT_ID: "acme-bridge", ACME_OAUTH_CLIENT_SECRET: "s3cret" }),
    );
    expect(config.oauthApp).toEqual({ clientId: "acme-bridge", clientSecret: "s3cret" });
    expect(requireOAuthApp(config)).toEqual(config.oauthApp);
  });

  it("may both stay unset (or empty): OAuth is unavailable, and what needs it fails with a clear problem", () => {
    for (const unset of [undefined, ""]) {
      const config = loadIntegrationConfig(
        envWith({ ACME_OAUTH_CLIENT_ID: unset, ACME_OAUTH_CLIENT_SECRET: unset }),
      );
      expect(config.oauthApp).toBeUndefined();
      expect(() => requireOAuthApp(config)).toThrow(
        expect.objectContaining({
          code: "internal_error",
          message: expect.stringContaining("ACME_OAUTH_CLIENT_ID"),
        }),
      );
    }
  });

  it.each([
    [
      "the id without the secret",
      { ACME_OAUTH_CLIENT_ID: "acme-bridge", ACME_OAUTH_CLIENT_SECRET: undefined },
    ],
    ["the secret without the id", { ACME_OAUTH_CLIENT_ID: undefined, ACME_OAUTH_CLIENT_SECRET: "s3cret" }],
  ])("%s is refused loudly", (_name, vars) => {
    expect(() => loadIntegrationConfig(envWith(vars))).toThrow(/ACME_OAUTH_CLIENT_SECRET: .*set both/);
  });

  it("refuses an id or secret that cannot go into HTTP Basic credentials (RFC 6749 A.1, A.2)", () => {
    expect(() =>
      loadIntegrationConfig(envWith({ ACME_OAUTH_CLIENT_ID: "acme\nbridge", ACME_OAUTH_CLIENT_SECRET: "s" })),
    ).toThrow(/ACME_OAUTH_CLIENT_ID:/);
    expect(() =>
      loadIntegrationConfig(envWith({ ACME_OAUTH_CLIENT_ID: "acme-bridge", ACME_OAUTH_CLIENT_SECRET: "é" })),
    ).toThrow(/ACME_OAUTH_CLIENT_SECRET:/);
  });
});
