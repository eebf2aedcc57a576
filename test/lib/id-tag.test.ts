import { describe, expect, it } from "vitest";
import { hasValidIdTag, idTag, withIdTag } from "../../src/lib/id-tag.ts";
import { newId, randomSecret } from "../../src/lib/ids.ts";

const KEY = randomSecret(32);

describe("id tags", () => {
  it("appends 12 hex characters that the same key verifies", async () => {
    const body = newId("conn");
    const tagged = await withIdTag(KEY, body);
    expect(tagged).toBe(body + (await idTag(KEY, body)));
    expect(tagged.slice(body.length)).toMatch(/^[0-9a-f]{12}$/);
    expect(await hasValidIdTag(KEY, tagged)).toBe(true);
  });

  it("refuses a value tagged under another key, an untagged one, a changed one and a short one", async () => {
    const tagged = await withIdTag(KEY, randomSecret(32, "ab_"));
    expect(await hasValidIdTag(randomSecret(32), tagged)).toBe(false);
    expect(await hasValidIdTag(KEY, randomSecret(32, "ab_"))).toBe(false);
    expect(await hasValidIdTag(KEY, newId("conn"))).toBe(false);
    const flipped = `${tagged.slice(0, 5)}${tagged[5] === "a" ? "b" : "a"}${tagged.slice(6)}`;
    expect(await hasValidIdTag(KEY, flipped)).toBe(false);
    expect(await hasValidIdTag(KEY, tagged.slice(-12))).toBe(false);
    expect(await hasValidIdTag(KEY, "")).toBe(false);
  });
});
