// `npm run test:builds`: bundles each deployment shape of wrangler.toml as `wrangler deploy
// --dry-run` does (no network), side by side, and checks that each bundle holds its own system
// and not the other: the production Worker must not carry the mock Acme (no /acme routes, no
// RateLimiter, no delivery consumer), the Acme Worker no integration API (/api, /console).
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, WRANGLER_JS } from "./wrangler-dev.ts";

/** Strings only the mock Acme's code holds: its document's title, route paths, queue and DO class. */
const ACME_MARKERS = [
  "Acme CRM (mock)",
  "/admin/clients",
  "/.well-known/jwks.json",
  "acme-webhook-deliveries",
  "RateLimiter",
];
/** Strings only the integration's code holds. */
const INTEGRATION_MARKERS = [
  "acme-bridge integration API",
  "/api/openapi.json",
  "/api/v1",
  "integration-inbox",
  "AcmeSession",
  "/console",
];

interface Shape {
  /** The wrangler env; undefined: the top-level (default) shape. */
  env: string | undefined;
  mustContain: string[];
  mustNotContain: string[];
}

const SHAPES: Shape[] = [
  { env: undefined, mustContain: [...ACME_MARKERS, ...INTEGRATION_MARKERS], mustNotContain: [] },
  { env: "production", mustContain: INTEGRATION_MARKERS, mustNotContain: ACME_MARKERS },
  { env: "acme", mustContain: ACME_MARKERS, mustNotContain: INTEGRATION_MARKERS },
];

/** What is wrong with a bundle's text for this shape: one line per missing or forbidden marker. */
function bundleProblems(bundle: string, shape: Shape): string[] {
  const name = shape.env ?? "default";
  return [
    ...shape.mustContain.filter((m) => !bundle.includes(m)).map((m) => `${name}: lacks ${JSON.stringify(m)}`),
    ...shape.mustNotContain
      .filter((m) => bundle.includes(m))
      .map((m) => `${name}: contains ${JSON.stringify(m)}`),
  ];
}

/** Runs `wrangler deploy --dry-run` for the shape into `outdir`; resolves to the bundle's text. */
function build(shape: Shape, outdir: string): Promise<string> {
  const args = ["deploy", "--dry-run", "--outdir", outdir, ...(shape.env ? ["--env", shape.env] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRANGLER_JS, ...args], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, WRANGLER_SEND_METRICS: "false", NO_COLOR: "1", CI: "true" },
    });
    let output = "";
    child.stdout.on("data", (chunk) => (output += chunk));
    child.stderr.on("data", (chunk) => (output += chunk));
    child.on("error", reject);
    child.on("exit", (code) => {
      const bundle = code === 0 ? readdirSync(outdir).find((f) => f.endsWith(".js")) : undefined;
      if (!bundle) reject(new Error(`building ${shape.env ?? "default"} failed (exit ${code}):\n${output}`));
      else resolve(readFileSync(join(outdir, bundle), "utf8"));
    });
  });
}

const outRoot = mkdtempSync(join(tmpdir(), "acme-bridge-builds-"));
try {
  const bundles = await Promise.all(
    SHAPES.map((shape) => build(shape, join(outRoot, shape.env ?? "default"))),
  );
  const problems = SHAPES.flatMap((shape, i) => bundleProblems(bundles[i] ?? "", shape));
  if (problems.length > 0) {
    console.error(`Deployment bundles are not separated:\n  ${problems.join("\n  ")}`);
    process.exitCode = 1;
  } else {
    console.log(
      `Built ${SHAPES.map((s) => s.env ?? "default").join(", ")}: each bundle holds its own system only.`,
    );
  }
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
} finally {
  rmSync(outRoot, { recursive: true, force: true });
}
