import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { createApp } from "../../src/app.ts";
import { DOCUMENT_PATHS, isDocumentedSurface } from "./check-responses.ts";
import { HTTP_METHODS, type OpenApiDocument, serverPrefix } from "./openapi-contract.ts";

// What the served documents must be, whatever the routes say: every pattern a plain ECMA-262
// expression that accepts the documents' own examples, and exactly the routes the Worker serves.
// (OpenAPI 3.1 validity is checked in the end-to-end suite: the validator reads its meta-schemas
// from disk, which workerd has not.)

async function documents(): Promise<[string, OpenApiDocument][]> {
  return Promise.all(
    Object.values(DOCUMENT_PATHS).map(async (path) => {
      const res = await SELF.fetch(`http://bridge.test${path}`);
      return [path, await res.json<OpenApiDocument>()] as [string, OpenApiDocument];
    }),
  );
}

interface PatternSite {
  where: string;
  pattern: string;
  examples: unknown[];
}

/** Every `pattern` in a document with the examples given for that value (schema or parameter). */
function patternSites(node: unknown, where: string, examples: unknown[] = []): PatternSite[] {
  if (Array.isArray(node)) return node.flatMap((item, i) => patternSites(item, `${where}/${i}`));
  if (!node || typeof node !== "object") return [];
  const record = node as Record<string, unknown>;
  // A parameter carries its examples beside its schema; a schema carries them itself.
  const own = [
    ...examples,
    ...("example" in record ? [record.example] : []),
    ...(Array.isArray(record.examples) ? record.examples : []),
  ];
  const sites: PatternSite[] =
    typeof record.pattern === "string" ? [{ where, pattern: record.pattern, examples: own }] : [];
  for (const [key, value] of Object.entries(record)) {
    if (key === "example" || key === "examples") continue;
    sites.push(...patternSites(value, `${where}/${key}`, key === "schema" ? own : []));
  }
  return sites;
}

describe("the OpenAPI documents", () => {
  it("use plain ECMA-262 patterns that accept the examples the documents give", async () => {
    const sites = (await documents()).flatMap(([path, doc]) => patternSites(doc, path));
    expect(sites.length).toBeGreaterThan(0);
    for (const site of sites) {
      const regex = new RegExp(site.pattern, "u");
      expect(site.examples, `${site.where}: a pattern needs an example`).not.toEqual([]);
      for (const example of site.examples) {
        expect(
          regex.test(String(example)),
          `${site.where}: /${site.pattern}/u on ${JSON.stringify(example)}`,
        ).toBe(true);
      }
    }
  });

  it("finds a pattern that rejects its example (the check above can fail)", () => {
    const sites = patternSites({ schema: { pattern: "^[0-9+]*$/i" }, example: "+44" }, "#");
    expect(sites).toEqual([{ where: "#/schema", pattern: "^[0-9+]*$/i", examples: ["+44"] }]);
    expect(new RegExp(sites[0]?.pattern ?? "", "u").test("+44")).toBe(false);
  });

  it("document exactly the routes the Worker serves", async () => {
    const served = new Set(
      createApp()
        .routes.filter((route) => route.method !== "ALL" && isDocumentedSurface(route.path))
        .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`),
    );
    const documented = new Set(
      (await documents()).flatMap(([, doc]) =>
        Object.entries(doc.paths).flatMap(([template, item]) =>
          HTTP_METHODS.filter((m) => item[m]).map(
            (m) => `${m.toUpperCase()} ${serverPrefix(doc)}${template}`,
          ),
        ),
      ),
    );
    expect([...served].filter((route) => !documented.has(route)).sort(), "served, not documented").toEqual(
      [],
    );
    expect([...documented].filter((route) => !served.has(route)).sort(), "documented, not served").toEqual(
      [],
    );
  });
});
