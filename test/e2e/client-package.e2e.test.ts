import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLIENT_DIR } from "../../scripts/client-files.ts";
import { ROOT } from "../../scripts/wrangler-dev.ts";
import { base, newConnection } from "./helpers.ts";
import { runOnSystemNode } from "./system-node.ts";

// The typed client as a user gets it: `npm pack` of client/ (its prepack builds dist/), installed
// into a scratch project outside the repository, used from plain JavaScript on the system's Node
// (no flags, no TypeScript) and type-checked as a dependency by a stock tsc.

let scratch: string;

/** `npm install` of the tarball, from npm's cache when it has openapi-fetch (offline), else the registry. */
function installTarball(tarball: string): void {
  const flags = ["--no-audit", "--no-fund", "--no-package-lock"];
  const offline = runOnSystemNode("npm", ["install", "--offline", ...flags, tarball], scratch);
  if (offline.status === 0) return;
  const online = runOnSystemNode("npm", ["install", "--prefer-offline", ...flags, tarball], scratch, {
    timeoutMs: 120_000,
  });
  expect(online.status, online.stderr).toBe(0);
}

beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "acme-bridge-client-user-"));
  const packed = runOnSystemNode("npm", ["pack", "--json", "--pack-destination", scratch], CLIENT_DIR);
  expect(packed.status, packed.stderr).toBe(0);
  const [pack] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  if (!pack) throw new Error(`npm pack reported nothing: ${packed.stdout}`);
  expect(pack.files.map((file) => file.path).sort()).toEqual([
    "dist/index.d.ts",
    "dist/index.js",
    "dist/schema.d.ts",
    "openapi.json",
    "package.json",
  ]);
  writeFileSync(
    join(scratch, "package.json"),
    JSON.stringify({ name: "scratch", private: true, type: "module" }),
  );
  installTarball(join(scratch, pack.filename));
}, 180_000);

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const USER_SCRIPT = `
import { createAcmeBridgeClient } from "acme-bridge-client";
const api = createAcmeBridgeClient({ baseUrl: process.env.BASE_URL, apiKey: process.env.API_KEY });
const email = process.env.EMAIL;
const created = await api.POST("/api/v1/contacts", { body: { firstName: "Dorothy", lastName: "Vaughan", email } });
const read = await api.GET("/api/v1/contacts/{id}", { params: { path: { id: created.data.id } } });
const listed = await api.GET("/api/v1/contacts", { params: { query: { email } } });
const refused = await api.POST("/api/v1/contacts", { body: { firstName: "No", lastName: "Email", email: "nope" } });
console.log(JSON.stringify({
  node: process.version,
  created: [created.response.status, created.data],
  read: read.data,
  listed: listed.data.data.map((c) => c.id),
  refused: [refused.response.status, refused.error.code, refused.data === undefined],
}));
`;

describe("the client package, installed into a project of its own", () => {
  it("creates, reads and lists contacts from plain JavaScript on the system's Node, and hands back problems", async () => {
    const { apiKey } = await newConnection();
    const email = `dorothy.${crypto.randomUUID()}@example.com`;
    writeFileSync(join(scratch, "use-client.mjs"), USER_SCRIPT);
    const run = runOnSystemNode("node", ["use-client.mjs"], scratch, {
      env: { BASE_URL: base, API_KEY: apiKey, EMAIL: email },
    });
    expect(run.status, run.stderr).toBe(0);
    const result = JSON.parse(run.stdout);
    const [createdStatus, contact] = result.created;
    expect(createdStatus).toBe(201);
    expect(contact).toMatchObject({ firstName: "Dorothy", lastName: "Vaughan", email, version: 1 });
    expect(result.read).toEqual(contact);
    expect(result.listed).toEqual([contact.id]);
    expect(result.refused).toEqual([400, "validation_failed", true]);
  });

  it("ships types a stock tsc resolves: paths typed, problem codes a closed set", () => {
    writeFileSync(
      join(scratch, "typed.ts"),
      `import { createAcmeBridgeClient, type ProblemCode } from "acme-bridge-client";
const api = createAcmeBridgeClient({ baseUrl: "http://127.0.0.1:8787", apiKey: "ab_x" });
export async function emailOf(id: string): Promise<string | undefined> {
  const { data, error } = await api.GET("/api/v1/contacts/{id}", { params: { path: { id } } });
  const code: ProblemCode | undefined = error?.code;
  if (code === "not_found") return undefined;
  return data?.email;
}
export const known: ProblemCode = "version_mismatch";
// @ts-expect-error a code the API never answers with
export const unknown: ProblemCode = "no_such_code";
// @ts-expect-error a path the API does not have
api.GET("/api/v1/no-such-path");
`,
    );
    writeFileSync(
      join(scratch, "tsconfig.json"),
      JSON.stringify({
        compilerOptions: {
          target: "es2022",
          module: "nodenext",
          strict: true,
          noEmit: true,
          lib: ["es2022", "dom"],
          types: [],
          skipLibCheck: true,
        },
        files: ["typed.ts"],
      }),
    );
    const tsc = spawnSync(
      process.execPath,
      [join(ROOT, "node_modules", "typescript", "bin", "tsc"), "-p", "."],
      {
        cwd: scratch,
        encoding: "utf8",
      },
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });
});
