import { describe, expect, it } from "vitest";
import { fromBase64Url, randomSecret, toBase64Url } from "../../src/lib/ids.ts";
import { SealedSecretError, SecretKeyRing, secretKeyId } from "../../src/lib/secret-box.ts";

const OLD = randomSecret(32);
const NEW = randomSecret(32);

/** A value in the format before key ids (`v1.<iv>.<ciphertext>`), as deployments hold them. */
async function sealV1(key: string, plaintext: string, context: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const aes = await crypto.subtle.importKey("raw", fromBase64Url(key), "AES-GCM", false, ["encrypt"]);
  const data = await crypto.subtle.encrypt(
    { name: "AES-GCM", iv, additionalData: new TextEncoder().encode(context) },
    aes,
    new TextEncoder().encode(plaintext),
  );
  return `v1.${toBase64Url(iv)}.${toBase64Url(new Uint8Array(data))}`;
}

describe("SecretKeyRing", () => {
  it("seals with the first key, naming it, and opens what it sealed", async () => {
    const ring = new SecretKeyRing([NEW, OLD]);
    const sealed = await ring.seal("s3cret", "conn_1");
    expect(sealed.startsWith(`v2.${await secretKeyId(NEW)}.`)).toBe(true);
    expect(sealed).not.toContain("s3cret");
    expect(await ring.open(sealed, "conn_1")).toBe("s3cret");
    expect(await ring.isCurrent(sealed)).toBe(true);
  });

  it("opens a value sealed with an older key of the ring, and re-seals it with the current one", async () => {
    const sealed = await new SecretKeyRing([OLD]).seal("s3cret", "conn_1");
    const rotated = new SecretKeyRing([NEW, OLD]);
    expect(await rotated.open(sealed, "conn_1")).toBe("s3cret");
    expect(await rotated.isCurrent(sealed)).toBe(false);
    const resealed = await rotated.reseal(sealed, "conn_1");
    expect(resealed?.startsWith(await rotated.currentPrefix())).toBe(true);
    expect(await new SecretKeyRing([NEW]).open(resealed ?? "", "conn_1")).toBe("s3cret");
    expect(await rotated.reseal(resealed ?? "", "conn_1")).toBeNull();
  });

  it("refuses a value sealed with a key dropped from the ring, naming the key id", async () => {
    const sealed = await new SecretKeyRing([OLD]).seal("s3cret", "conn_1");
    const error = await new SecretKeyRing([NEW]).open(sealed, "conn_1").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SealedSecretError);
    expect(String(error)).toContain(await secretKeyId(OLD));
  });

  it("opens values of the format before key ids with the legacy keys, tried in order", async () => {
    const legacy = await sealV1(OLD, "s3cret", "conn_1");
    expect(await new SecretKeyRing([NEW, OLD]).open(legacy, "conn_1")).toBe("s3cret");
    const pepperDerived = randomSecret(32);
    const acmeStyle = await sealV1(pepperDerived, "whsec", "wh_1");
    const ring = new SecretKeyRing([NEW], { legacyKeys: [OLD, Promise.resolve(pepperDerived)] });
    expect(await ring.open(acmeStyle, "wh_1")).toBe("whsec");
    expect((await ring.reseal(acmeStyle, "wh_1"))?.startsWith(await ring.currentPrefix())).toBe(true);
    await expect(new SecretKeyRing([NEW]).open(legacy, "conn_1")).rejects.toThrow(SealedSecretError);
  });

  it("binds a value to its context: moved to another row, it does not open", async () => {
    const ring = new SecretKeyRing([NEW]);
    const sealed = await ring.seal("s3cret", "conn_1");
    await expect(ring.open(sealed, "conn_2")).rejects.toThrow(SealedSecretError);
    await expect(ring.open(await sealV1(NEW, "s3cret", "conn_1"), "conn_2")).rejects.toThrow(
      SealedSecretError,
    );
  });

  it.each([
    ["an unknown version", "v3.abc.def"],
    ["too few parts", "v2.abcdefgh.iv"],
    ["a tampered ciphertext", null],
    ["nothing", ""],
  ])("refuses %s", async (_, value) => {
    const ring = new SecretKeyRing([NEW]);
    const sealed = value ?? `${(await ring.seal("s3cret", "c")).slice(0, -2)}AA`;
    await expect(ring.open(sealed, "c")).rejects.toThrow(SealedSecretError);
  });

  it("parses a comma-separated list, current first, and refuses an empty ring or a malformed key", () => {
    expect(SecretKeyRing.fromList(` ${NEW} , ${OLD} `).keys).toEqual([NEW, OLD]);
    expect(() => SecretKeyRing.fromList("")).toThrow(RangeError);
    expect(() => new SecretKeyRing([`${NEW}=`])).toThrow(RangeError);
    expect(() => new SecretKeyRing(["short"])).toThrow(RangeError);
  });

  it("gives every key its own id, which is not the key", async () => {
    const [a, b] = await Promise.all([secretKeyId(OLD), secretKeyId(NEW)]);
    expect(a).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(a).not.toBe(b);
    expect(OLD).not.toContain(a);
  });
});
