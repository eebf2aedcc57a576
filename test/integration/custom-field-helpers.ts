import { expect, vi } from "vitest";
import { acme, tokenFor } from "../acme/helpers.ts";
import { api, type TestConnection } from "./helpers.ts";

/** One Acme property of each type. */
export const EVERY_TYPE = [
  { name: "nickname", label: "Nickname", type: "string" },
  { name: "seats", label: "Seats", type: "number" },
  { name: "vip", label: "VIP", type: "boolean" },
  { name: "renewal_date", label: "Renewal date", type: "date" },
  {
    name: "contract_tier",
    label: "Contract tier",
    type: "enumeration",
    options: ["bronze", "silver", "gold"],
  },
] as const;

/** Each of {@link EVERY_TYPE} mapped under an API name. */
export const EVERY_TYPE_MAPPED = {
  nickname: { remote: "nickname" },
  seats: { remote: "seats" },
  vip: { remote: "vip" },
  renewalDate: { remote: "renewal_date" },
  tier: { remote: "contract_tier" },
};

/** Defines properties at the connection's Acme account (directly at Acme). */
export async function defineProperties(
  connection: TestConnection,
  properties: readonly Record<string, unknown>[] = EVERY_TYPE,
): Promise<void> {
  const token = await tokenFor(connection.acmeClient);
  for (const property of properties) {
    const res = await acme("/v1/properties", { token, method: "POST", body: property });
    if (res.status !== 201) throw new Error(`property creation failed: ${res.status} ${await res.text()}`);
  }
}

/** Archives a property at the connection's Acme account. */
export async function archiveProperty(connection: TestConnection, name: string): Promise<void> {
  const res = await acme(`/v1/properties/${name}`, {
    token: await tokenFor(connection.acmeClient),
    method: "DELETE",
  });
  expect(res.status).toBe(204);
}

/** PUT /api/v1/field-mappings; fails the test on anything but 200. */
export async function mapFields(
  key: string,
  customFields: Record<string, { remote: string }>,
): Promise<void> {
  const res = await api("/api/v1/field-mappings", { key, method: "PUT", body: { customFields } });
  if (res.status !== 200) throw new Error(`mapping failed: ${res.status} ${await res.text()}`);
}

/** The JSON log lines written while `run` ran (the in-process Acme's "acme request" lines among them). */
export async function logLinesOf(run: () => Promise<unknown>): Promise<Record<string, unknown>[]> {
  const spy = vi.spyOn(console, "log").mockImplementation(() => {});
  try {
    await run();
    return spy.mock.calls.flatMap((args) => {
      try {
        return [JSON.parse(String(args[0])) as Record<string, unknown>];
      } catch {
        return [];
      }
    });
  } finally {
    spy.mockRestore();
  }
}

/** How many requests the in-process Acme answered while `run` ran. */
export async function acmeCallsDuring(run: () => Promise<unknown>): Promise<number> {
  const lines = await logLinesOf(run);
  return lines.filter((l) => l.system === "acme" && l.message === "acme request").length;
}
