import { SELF } from "cloudflare:test";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ContractFixture, disableAcmeFaults } from "./contract-fixture.ts";
import { documentId, documentsValidator, type OpenApiDocument, pointerSegment } from "./openapi-contract.ts";
import { type DocumentedOperation, documentedOperations, servedDocuments } from "./served-operations.ts";

// Every schema the documents state can be met, and the documents show how: each component schema
// and each request body gives an example, every example the documents give is one its schema
// accepts (ajv, as a generated validator would check it), no schema is an allOf whose closed
// members refuse each other's fields, and each request body's example is taken by the server (a
// 2xx, or a 4xx that does not refuse the body). A schema nothing satisfies, or one stricter or
// looser than the server, fails here by name.

const ORIGIN = "http://bridge.test";
const DOCUMENTS = await servedDocuments();
const SYSTEMS = ["integration", "acme"] as const;
const VALIDATOR = documentsValidator(SYSTEMS.map((system) => DOCUMENTS[system]));

type Node = Record<string, unknown>;

/** A node of a document by its `#/...` reference. */
function resolve(document: OpenApiDocument, ref: string): unknown {
  return ref
    .slice(2)
    .split("/")
    .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
    .reduce<unknown>((node, s) => (node as Node | undefined)?.[s], document);
}

/** The node itself, or what its `$ref`s lead to within the document. */
function dereference(document: OpenApiDocument, node: unknown): Node {
  let current = node;
  while (current && typeof current === "object" && "$ref" in current) {
    current = resolve(document, (current as { $ref: string }).$ref);
  }
  return (current ?? {}) as Node;
}

/** The examples a schema node states itself (`example`, `examples`). */
function statedExamples(node: Node): unknown[] {
  return [
    ...("example" in node ? [node.example] : []),
    ...(Array.isArray(node.examples) ? node.examples : []),
  ];
}

/** What a schema gives as its examples, through `$ref`s. */
function schemaExamples(document: OpenApiDocument, schema: unknown): unknown[] {
  return statedExamples(dereference(document, schema));
}

/** The examples of a parameter or media type: its own (`example`, `examples.*.value`). */
function ownExamples(holder: Node): unknown[] {
  const named = (holder.examples ?? {}) as Record<string, { value?: unknown }>;
  return [...("example" in holder ? [holder.example] : []), ...Object.values(named).map((e) => e.value)];
}

interface ExampleSite {
  /** Where the example sits, e.g. "acme#/components/schemas/AcmeContactInput". */
  where: string;
  /** The JSON pointer of the schema the examples must satisfy. */
  pointer: string;
  examples: unknown[];
}

/**
 * Every place a document gives examples: a schema's own, and a parameter's or media type's
 * (checked against its `schema`). Object members named `example(s)` are the examples themselves.
 */
function exampleSites(node: unknown, pointer: string, where: string): ExampleSite[] {
  if (!node || typeof node !== "object") return [];
  if (Array.isArray(node)) return node.flatMap((item, i) => exampleSites(item, `${pointer}/${i}`, where));
  const record = node as Node;
  const sites: ExampleSite[] = [];
  if ("schema" in record && ("example" in record || "examples" in record)) {
    sites.push({ where: `${where}#${pointer}`, pointer: `${pointer}/schema`, examples: ownExamples(record) });
  } else if ("example" in record || Array.isArray(record.examples)) {
    sites.push({ where: `${where}#${pointer}`, pointer, examples: statedExamples(record) });
  }
  for (const [key, value] of Object.entries(record)) {
    if (key === "example" || key === "examples") continue;
    sites.push(...exampleSites(value, `${pointer}/${pointerSegment(key)}`, where));
  }
  return sites;
}

/**
 * allOf members that exclude each other: a closed member (`additionalProperties: false`) that
 * lacks a property another member declares or requires refuses every value the other must have.
 * One message per conflict, naming the allOf and the property.
 */
function conflictingAllOfs(document: OpenApiDocument, node: unknown, pointer: string): string[] {
  if (!node || typeof node !== "object") return [];
  if (Array.isArray(node))
    return node.flatMap((item, i) => conflictingAllOfs(document, item, `${pointer}/${i}`));
  const record = node as Node;
  const conflicts: string[] = [];
  if (Array.isArray(record.allOf)) {
    const members = record.allOf.map((member) => dereference(document, member));
    for (const [i, closed] of members.entries()) {
      if (closed.additionalProperties !== false) continue;
      const allowed = new Set(Object.keys((closed.properties ?? {}) as Node));
      for (const [j, other] of members.entries()) {
        if (i === j) continue;
        const named = [
          ...Object.keys((other.properties ?? {}) as Node),
          ...((other.required ?? []) as string[]),
        ];
        for (const property of new Set(named)) {
          if (!allowed.has(property)) {
            conflicts.push(
              `${pointer}/allOf: member ${i} is closed and refuses "${property}" of member ${j}`,
            );
          }
        }
      }
    }
  }
  for (const [key, value] of Object.entries(record)) {
    if (key === "example" || key === "examples") continue;
    conflicts.push(...conflictingAllOfs(document, value, `${pointer}/${pointerSegment(key)}`));
  }
  return conflicts;
}

/** The examples refused by the schema at `pointer` of a system's document, with ajv's reasons. */
function refusedExamples(system: (typeof SYSTEMS)[number], pointer: string, examples: unknown[]): string[] {
  const validate = VALIDATOR.compile({ $ref: `${documentId(SYSTEMS.indexOf(system))}#${pointer}` });
  return examples.flatMap((example) =>
    validate(example)
      ? []
      : [`${JSON.stringify(example)?.slice(0, 200)}: ${VALIDATOR.errorsText(validate.errors)}`],
  );
}

/** One request body example of an operation, in one media type. */
interface BodyExample {
  op: DocumentedOperation;
  mediaType: string;
  pointer: string;
  examples: unknown[];
}

const BODY_EXAMPLES: BodyExample[] = documentedOperations(DOCUMENTS).flatMap((op) =>
  Object.entries(op.operation.requestBody?.content ?? {}).map(([mediaType, media]) => ({
    op,
    mediaType,
    pointer: `/paths/${pointerSegment(op.path)}/${op.method}/requestBody/content/${pointerSegment(mediaType)}/schema`,
    examples: ownExamples(media as Node).length
      ? ownExamples(media as Node)
      : schemaExamples(op.document, (media as Node).schema),
  })),
);

/** Statuses that refuse a request's body: invalid (400), too large (413), wrong type (415), 422. */
const BODY_REFUSALS = [400, 413, 415, 422];

function encode(mediaType: string, example: unknown): string {
  if (typeof example === "string") return example;
  if (mediaType === "application/x-www-form-urlencoded") {
    return new URLSearchParams(Object.entries(example as Node).map(([k, v]) => [k, String(v)])).toString();
  }
  return JSON.stringify(example);
}

const fixture = new ContractFixture();
beforeAll(() => fixture.setUp());
afterAll(disableAcmeFaults);

describe("examples in the OpenAPI documents", () => {
  it("every component schema gives an example, and its schema accepts it", () => {
    const problems: string[] = [];
    for (const system of SYSTEMS) {
      for (const name of Object.keys(DOCUMENTS[system].components?.schemas ?? {})) {
        const pointer = `/components/schemas/${pointerSegment(name)}`;
        const examples = schemaExamples(DOCUMENTS[system], resolve(DOCUMENTS[system], `#${pointer}`));
        if (examples.length === 0) problems.push(`${system}#${pointer}: no example`);
        problems.push(...refusedExamples(system, pointer, examples).map((p) => `${system}#${pointer}: ${p}`));
      }
    }
    expect(problems).toEqual([]);
  });

  it("every example anywhere in the documents (schemas, parameters, media types) satisfies its schema", () => {
    const sites = SYSTEMS.flatMap((system) =>
      exampleSites(DOCUMENTS[system], "", system).map((site) => ({ system, site })),
    );
    expect(sites.length).toBeGreaterThan(50);
    const problems = sites.flatMap(({ system, site }) =>
      refusedExamples(system, site.pointer, site.examples).map((p) => `${site.where}: ${p}`),
    );
    expect(problems).toEqual([]);
  });

  it("no allOf has closed members that refuse each other's fields (a schema nothing satisfies)", () => {
    const conflicts = SYSTEMS.flatMap((system) =>
      conflictingAllOfs(DOCUMENTS[system], DOCUMENTS[system], `${system}#`),
    );
    expect(conflicts).toEqual([]);
  });

  it("finds the allOf of two closed schemas that made Acme's replace unsatisfiable (the check can fail)", () => {
    const document = {
      components: {
        schemas: {
          Input: { type: "object", properties: { acme_email: {} }, additionalProperties: false },
          Replace: {
            allOf: [
              { $ref: "#/components/schemas/Input" },
              { type: "object", properties: { id: {} }, additionalProperties: false },
            ],
          },
        },
      },
    } as unknown as OpenApiDocument;
    expect(conflictingAllOfs(document, document, "#")).toEqual([
      '#/components/schemas/Replace/allOf: member 0 is closed and refuses "id" of member 1',
      '#/components/schemas/Replace/allOf: member 1 is closed and refuses "acme_email" of member 0',
    ]);
  });

  it("every request body gives an example per media type, and its schema accepts it", () => {
    expect(BODY_EXAMPLES.length).toBeGreaterThan(20);
    const problems = BODY_EXAMPLES.flatMap(({ op, mediaType, pointer, examples }) => {
      const where = `${op.method.toUpperCase()} ${op.template} (${mediaType})`;
      if (examples.length === 0) return [`${where}: no example`];
      return refusedExamples(op.system, pointer, examples).map((p) => `${where}: ${p}`);
    });
    expect(problems).toEqual([]);
  });

  it.each(
    BODY_EXAMPLES.map(
      (body) => [`${body.op.method.toUpperCase()} ${body.op.template} (${body.mediaType})`, body] as const,
    ),
  )("the server takes the example body of %s", async (where, { op, mediaType, examples }) => {
    expect(examples.length, `${where}: no example`).toBeGreaterThan(0);
    for (const example of examples) {
      let path = op.template;
      for (const param of op.operation.parameters ?? []) {
        if (param.in !== "path") continue;
        const id = (await fixture.id(op, param.name)) ?? "unknown_id";
        path = path.replace(`{${param.name}}`, encodeURIComponent(id));
      }
      const token = fixture.credentials(op);
      const res = await SELF.fetch(`${ORIGIN}${path}`, {
        method: op.method.toUpperCase(),
        headers: { "content-type": mediaType, ...(token ? { authorization: `Bearer ${token}` } : {}) },
        body: encode(mediaType, example),
      });
      const text = await res.text();
      if (op.template === "/acme/admin/faults") await disableAcmeFaults();
      const taken = res.status < 300 || (res.status < 500 && !BODY_REFUSALS.includes(res.status));
      expect(taken, `${where} answered ${res.status} to its example: ${text.slice(0, 300)}`).toBe(true);
    }
  });
});
