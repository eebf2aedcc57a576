import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { loadIntegrationConfig } from "../../src/integration/config.ts";

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
