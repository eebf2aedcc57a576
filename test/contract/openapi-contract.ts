import { Ajv2020, type ValidateFunction } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

// Checks HTTP responses against the OpenAPI 3.1 documents the Worker serves. Plain code with no
// Node or workerd APIs, so the workerd suite (through SELF) and the end-to-end suite (through
// fetch) share it.

/** The parts of an OpenAPI 3.1 document the checks read. */
export interface OpenApiDocument {
  openapi: string;
  info: { title: string; version: string };
  servers?: { url: string }[];
  paths: Record<string, PathItem>;
  components?: { schemas?: Record<string, unknown>; responses?: Record<string, unknown> };
}

/** One path of a document: its operations by lower-case method, plus shared parameters. */
export type PathItem = Partial<Record<HttpMethod, Operation>> & { parameters?: unknown[] };

/** The methods an OpenAPI path item can describe. */
export type HttpMethod = "get" | "put" | "post" | "delete" | "options" | "head" | "patch" | "trace";

export const HTTP_METHODS: readonly HttpMethod[] = [
  "get",
  "put",
  "post",
  "delete",
  "options",
  "head",
  "patch",
  "trace",
];

/** An operation, reduced to what response checks and request generation need. */
export interface Operation {
  operationId?: string;
  summary?: string;
  security?: Record<string, string[]>[];
  parameters?: Parameter[];
  requestBody?: { required?: boolean; content: Record<string, { schema?: unknown }> };
  responses: Record<string, ResponseObject | { $ref: string }>;
}

/** A path, query or header parameter. */
export interface Parameter {
  name: string;
  in: "path" | "query" | "header" | "cookie";
  required?: boolean;
  schema?: unknown;
}

/** A declared response: its headers and, per media type, the body schema. */
export interface ResponseObject {
  description: string;
  headers?: Record<string, { schema?: unknown; required?: boolean }>;
  content?: Record<string, { schema?: unknown }>;
}

/** One system's document and how it answers where the document has no operation. */
export interface ContractSystem {
  /** Used in failure messages, e.g. "integration API". */
  name: string;
  document: OpenApiDocument;
  /** The media type and `#/components/schemas/...` pointer of the system's error body. */
  errorFormat: { mediaType: string; schemaRef: string };
}

/** What was asked and what came back; `body` is the response text ("" when there was none). */
export interface ObservedExchange {
  method: string;
  url: string;
  status: number;
  headers: Headers;
  body: string;
}

/** A response the documents do not allow; the message names the operation and the body path. */
export class ContractViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ContractViolation";
  }
}

/** A documented operation found for a request path. */
export interface MatchedOperation {
  system: ContractSystem;
  /** The document's path template, e.g. "/v1/contacts/{id}". */
  template: string;
  /** The template with the document's server prefix, e.g. "/acme/v1/contacts/{id}". */
  fullTemplate: string;
  pathItem: PathItem;
}

interface CompiledTemplate {
  system: ContractSystem;
  template: string;
  fullTemplate: string;
  pathItem: PathItem;
  regex: RegExp;
  literalSegments: number;
}

const JSON_MEDIA_TYPE = /^application\/(?:[\w.+-]+\+)?json$/;

/**
 * Refusals that middleware may give before routing finds the method missing (RFC 9110 leaves the
 * order open): a malformed query (400), credentials (401, 403), the body limit (413), and a body
 * sent with a content coding (415 with `Accept-Encoding`, RFC 7694 3), which no route can read.
 */
const CHECKED_BEFORE_ROUTING = [400, 401, 403, 413];

function checkedBeforeRouting(exchange: ObservedExchange): boolean {
  if (CHECKED_BEFORE_ROUTING.includes(exchange.status)) return true;
  return exchange.status === 415 && exchange.headers.has("accept-encoding");
}

/** `application/json; charset=utf-8` -> `application/json`; null when absent. */
export function mediaTypeOf(contentType: string | null): string | null {
  if (!contentType) return null;
  return contentType.split(";")[0]?.trim().toLowerCase() || null;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

function compileTemplate(system: ContractSystem, template: string, pathItem: PathItem): CompiledTemplate {
  const prefix = serverPrefix(system.document);
  const fullTemplate = `${prefix}${template}`;
  const segments = fullTemplate.split("/");
  const source = segments
    .map((segment) => (/^\{[^}]+\}$/.test(segment) ? "[^/]+" : escapeRegExp(segment)))
    .join("/");
  return {
    system,
    template,
    fullTemplate,
    pathItem,
    regex: new RegExp(`^${source}$`),
    literalSegments: segments.filter((segment) => !segment.startsWith("{")).length,
  };
}

/** The path prefix of a document's first server ("/acme"), or "" when it has none. */
export function serverPrefix(document: OpenApiDocument): string {
  const url = document.servers?.[0]?.url ?? "";
  const path = url.startsWith("/") ? url : url ? new URL(url).pathname : "";
  return path.replace(/\/$/, "");
}

/** The operation's methods a path has, as an `Allow` header would list them (upper case). */
export function documentedMethods(pathItem: PathItem): string[] {
  return HTTP_METHODS.filter((method) => pathItem[method] !== undefined).map((m) => m.toUpperCase());
}

/**
 * Checks responses against the documents: the operation (method + path template) is found, its
 * status declared (exactly, as `4XX`, or as `default`), the content type declared and the body valid
 * against the declared schema (JSON Schema 2020-12 with the document's `$ref`s). A path no document
 * has must answer in its system's error format; a documented path asked with a method it lacks must
 * answer 405 with `Allow` listing the documented methods. Validators are compiled once per schema.
 */
export class ContractChecker {
  private readonly ajv: Ajv2020;
  private readonly templates: CompiledTemplate[];
  private readonly validators = new Map<string, ValidateFunction>();

  constructor(private readonly systems: ContractSystem[]) {
    this.ajv = documentsValidator(systems.map((system) => system.document));
    this.templates = [];
    for (const system of systems) {
      for (const [template, pathItem] of Object.entries(system.document.paths)) {
        this.templates.push(compileTemplate(system, template, pathItem));
      }
    }
    // The most specific template wins: longer server prefix first, then more literal segments.
    this.templates.sort(
      (a, b) =>
        serverPrefix(b.system.document).length - serverPrefix(a.system.document).length ||
        b.literalSegments - a.literalSegments,
    );
  }

  /** The documented operation of a request path, or null when no document has the path. */
  match(pathname: string): MatchedOperation | null {
    const hit = this.templates.find((t) => t.regex.test(pathname));
    return hit
      ? { system: hit.system, template: hit.template, fullTemplate: hit.fullTemplate, pathItem: hit.pathItem }
      : null;
  }

  /** The system whose prefix owns this path (the longest server prefix that starts it). */
  systemFor(pathname: string): ContractSystem {
    const owners = this.systems
      .filter((s) => {
        const prefix = serverPrefix(s.document);
        return prefix === "" || pathname === prefix || pathname.startsWith(`${prefix}/`);
      })
      .sort((a, b) => serverPrefix(b.document).length - serverPrefix(a.document).length);
    const owner = owners[0];
    if (!owner) throw new Error(`no document serves ${pathname}`);
    return owner;
  }

  /** Throws a ContractViolation naming the operation and the body path when the response breaks the documents. */
  check(exchange: ObservedExchange): void {
    const problems = this.violations(exchange);
    if (problems.length > 0) {
      throw new ContractViolation(
        `${exchange.method} ${exchange.url} answered ${exchange.status} against the OpenAPI documents:\n` +
          problems.map((p) => `  - ${p}`).join("\n"),
      );
    }
  }

  /** Every way the response breaks the documents (empty when it keeps them). */
  violations(exchange: ObservedExchange): string[] {
    const url = new URL(exchange.url);
    const method = exchange.method.toLowerCase();
    const matched = this.match(url.pathname);
    if (!matched) return this.checkErrorFormat(this.systemFor(url.pathname), exchange, "no documented path");

    const { system, fullTemplate, pathItem } = matched;
    // HEAD is GET without a body (RFC 9110 9.3.2); Hono answers it for every GET route.
    const asked = method === "head" && pathItem.get ? "get" : method;
    const operation = pathItem[asked as HttpMethod];
    if (!operation) {
      const where = `${fullTemplate} has no ${method.toUpperCase()} (${system.name})`;
      const problems = this.checkErrorFormat(system, exchange, where);
      if (checkedBeforeRouting(exchange)) return problems;
      if (exchange.status !== 405) problems.push(`${where}: expected 405, got ${exchange.status}`);
      const allow = (exchange.headers.get("allow") ?? "")
        .split(",")
        .map((m) => m.trim().toUpperCase())
        .filter(Boolean);
      const documented = documentedMethods(pathItem);
      const extra = allow.filter((m) => !documented.includes(m) && m !== "HEAD" && m !== "OPTIONS");
      const missing = documented.filter((m) => !allow.includes(m));
      if (missing.length > 0 || extra.length > 0) {
        problems.push(`${where}: Allow "${allow.join(", ")}" should list ${documented.join(", ")}`);
      }
      return problems;
    }

    const name = `${asked.toUpperCase()} ${fullTemplate} (${system.name}${operation.operationId ? `, ${operation.operationId}` : ""})`;
    const key = responseKey(operation, exchange.status);
    if (!key) return [`${name}: status ${exchange.status} is not declared`];
    const declared = this.resolveResponse(system, operation.responses[key]);
    const pointer = `${documentPointer(this.systems.indexOf(system))}/paths/${pointerSegment(matched.template)}/${asked}/responses/${pointerSegment(key)}`;
    return this.checkBody(name, exchange, method === "head", declared, pointer);
  }

  private checkBody(
    name: string,
    exchange: ObservedExchange,
    head: boolean,
    declared: ResponseObject,
    responsePointer: string,
  ): string[] {
    const mediaType = mediaTypeOf(exchange.headers.get("content-type"));
    const content = declared.content ?? {};
    const declaredTypes = Object.keys(content);
    const status = exchange.status;
    if (declaredTypes.length === 0) {
      return exchange.body.length > 0
        ? [`${name}: ${status} declares no body, got ${exchange.body.length} bytes of ${mediaType ?? "?"}`]
        : [];
    }
    if (head) return [];
    if (!mediaType) return [`${name}: ${status} has no Content-Type; declared ${declaredTypes.join(", ")}`];
    const declaredType = declaredTypes.find((t) => mediaTypeMatches(t, mediaType));
    if (!declaredType) {
      return [`${name}: ${status} is ${mediaType}; declared ${declaredTypes.join(", ")}`];
    }
    const schema = content[declaredType]?.schema;
    if (schema === undefined) return [];
    const validate = this.validator(`${responsePointer}/content/${pointerSegment(declaredType)}/schema`);
    return this.validateBody(`${name}: ${status} ${mediaType}`, mediaType, exchange.body, validate);
  }

  private validateBody(where: string, mediaType: string, text: string, validate: ValidateFunction): string[] {
    let body: unknown = text;
    if (JSON_MEDIA_TYPE.test(mediaType)) {
      try {
        body = JSON.parse(text);
      } catch {
        return [`${where}: body is not JSON: ${JSON.stringify(text.slice(0, 200))}`];
      }
    }
    if (validate(body)) return [];
    return (validate.errors ?? []).map(
      (e) =>
        `${where}: body${e.instancePath || ""} ${e.message ?? "is invalid"}` +
        `${e.params && Object.keys(e.params).length > 0 ? ` ${JSON.stringify(e.params)}` : ""}` +
        ` (schema ${e.schemaPath})`,
    );
  }

  private checkErrorFormat(system: ContractSystem, exchange: ObservedExchange, where: string): string[] {
    const label = `${where}: ${exchange.status}`;
    if (exchange.status < 400 || exchange.status >= 500) {
      return [`${label} should be a 4xx in the ${system.name}'s error format`];
    }
    // A HEAD response has the headers of the error it would have sent, and no body.
    if (exchange.method.toUpperCase() === "HEAD") return [];
    const mediaType = mediaTypeOf(exchange.headers.get("content-type"));
    if (mediaType !== system.errorFormat.mediaType) {
      return [`${label} is ${mediaType ?? "without Content-Type"}; expected ${system.errorFormat.mediaType}`];
    }
    const index = this.systems.indexOf(system);
    const validate = this.validator(`${documentPointer(index)}${system.errorFormat.schemaRef.slice(1)}`);
    return this.validateBody(label, mediaType, exchange.body, validate);
  }

  private resolveResponse(system: ContractSystem, response: ResponseObject | { $ref: string } | undefined) {
    let current: unknown = response;
    while (current && typeof current === "object" && "$ref" in current) {
      const ref = (current as { $ref: string }).$ref;
      current = ref
        .slice(2)
        .split("/")
        .map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))
        .reduce<unknown>((node, s) => (node as Record<string, unknown> | undefined)?.[s], system.document);
    }
    return (current ?? { description: "" }) as ResponseObject;
  }

  private validator(ref: string): ValidateFunction {
    let validate = this.validators.get(ref);
    if (!validate) {
      validate = this.ajv.compile({ $ref: ref });
      this.validators.set(ref, validate);
    }
    return validate;
  }
}

/**
 * An ajv (JSON Schema 2020-12, formats checked) holding each document whole as one schema
 * resource with the id `documentId(index)`, so `#/components/schemas/...` inside it resolves as
 * written and any place in it can be compiled as `${documentId(index)}#<JSON pointer>`.
 */
export function documentsValidator(documents: OpenApiDocument[]): Ajv2020 {
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, validateFormats: true });
  // OpenAPI 3.1's dialect adds annotation keywords to JSON Schema 2020-12; the document's own
  // fields are known too, since each document is added whole as one schema resource.
  ajv.addVocabulary(["example", "discriminator", "xml", "externalDocs"]);
  ajv.addVocabulary(["openapi", "info", "servers", "paths", "webhooks", "components", "security", "tags"]);
  addFormats(ajv);
  for (const [index, document] of documents.entries()) {
    ajv.addSchema(document as object, documentId(index), undefined, false);
  }
  return ajv;
}

/** The id under which documentsValidator holds the document at `index`. */
export function documentId(index: number): string {
  return `https://contract.test/document-${index}.json`;
}

/** A JSON pointer segment for a key (RFC 6901: `~` and `/` escaped). */
export function pointerSegment(segment: string): string {
  return segment.replace(/~/g, "~0").replace(/\//g, "~1");
}

/** A JSON pointer segment for a key (RFC 6901: `~` and `/` escaped). */
export function documentPointer(index: number): string {
  return `${documentId(index)}#`;
}

/** The key of `responses` that covers a status: exact, then the range ("4XX"), then "default". */
export function responseKey(operation: Operation, status: number): string | undefined {
  const keys = Object.keys(operation.responses);
  return (
    keys.find((k) => k === String(status)) ??
    keys.find((k) => k.toUpperCase() === `${String(status)[0]}XX`) ??
    keys.find((k) => k === "default")
  );
}

function mediaTypeMatches(declared: string, actual: string): boolean {
  const [type, subtype] = declared.toLowerCase().split("/");
  const [actualType, actualSubtype] = actual.split("/");
  return (type === "*" || type === actualType) && (subtype === "*" || subtype === actualSubtype);
}

/** The two systems of this Worker, from their served documents. */
export function acmeBridgeSystems(documents: {
  integration: OpenApiDocument;
  acme: OpenApiDocument;
}): ContractSystem[] {
  return [
    {
      name: "integration API",
      document: documents.integration,
      errorFormat: { mediaType: "application/problem+json", schemaRef: "#/components/schemas/Problem" },
    },
    {
      name: "Acme",
      document: documents.acme,
      errorFormat: { mediaType: "application/json", schemaRef: "#/components/schemas/AcmeError" },
    },
  ];
}
