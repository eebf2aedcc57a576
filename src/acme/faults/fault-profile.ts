import { z } from "@hono/zod-openapi";

const FAULT_STATUSES = ["500", "502", "503", "504"] as const;

export const FaultProfileSchema = z
  .strictObject({
    enabled: z.boolean().default(false),
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .default(1),
    /** Share of requests answered with a 5xx from `statusMix`. */
    errorRate: z.number().min(0).max(1).default(0),
    statusMix: z
      .partialRecord(z.enum(FAULT_STATUSES), z.number().min(0))
      .default({ "500": 1, "503": 1 })
      .refine((mix) => Object.values(mix).some((w) => (w ?? 0) > 0), "at least one status needs a weight")
      // The document states what the server checks: only these statuses, some with a weight above 0.
      .openapi({
        description: "Relative weights of the injected 5xx statuses; at least one above 0",
        additionalProperties: false,
        anyOf: FAULT_STATUSES.map((status) => ({
          required: [status],
          properties: { [status]: { type: "number" as const, exclusiveMinimum: 0 } },
        })),
      }),
    /** `before`: fail without touching data; `after`: do the work, then fail (the ambiguous case). */
    errorPhase: z.enum(["before", "after"]).default("before"),
    latencyMs: z
      .object({ min: z.number().int().min(0).max(60_000), max: z.number().int().min(0).max(60_000) })
      .refine((l) => l.min <= l.max, "min must not exceed max")
      .openapi({
        description: "Added delay in ms, drawn between min and max; min must not exceed max (else 400)",
      })
      .default({ min: 0, max: 0 }),
    /** Share of requests that stall for `timeoutMs` and then answer 504, as a hung upstream does. */
    timeoutRate: z.number().min(0).max(1).default(0),
    timeoutMs: z.number().int().min(0).max(120_000).default(30_000),
    /** Every `every` requests, the first `length` are refused with 429 and `Retry-After`. */
    rateLimitBurst: z
      .object({
        every: z.number().int().min(1),
        length: z.number().int().min(1),
        retryAfterSeconds: z.number().int().min(0).max(3600).default(1),
      })
      .nullable()
      .default(null),
    /** Methods the profile applies to; empty means all. */
    methods: z.array(z.enum(["GET", "POST", "PUT", "PATCH", "DELETE"])).default([]),
  })
  .openapi("FaultProfile", {
    example: { enabled: true, errorRate: 0.2, statusMix: { "503": 1 }, methods: ["GET"] },
  });

export type FaultProfile = z.infer<typeof FaultProfileSchema>;

export const DEFAULT_FAULT_PROFILE: FaultProfile = FaultProfileSchema.parse({});

export type Fault =
  | { kind: "status"; status: number; phase: "before" | "after"; retryAfterSeconds?: number; delayMs: number }
  | { kind: "timeout"; delayMs: number }
  | { kind: "delay"; delayMs: number };

/** Seeded PRNG (mulberry32): the same seed gives the same fault sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Decides the fault for the `sequence`-th request the profile sees. Pure: all randomness comes
 * from `random`, which draws the same number of values per call whatever the outcome.
 */
export function chooseFault(
  profile: FaultProfile,
  method: string,
  sequence: number,
  random: () => number,
): Fault | null {
  const [errorDraw, timeoutDraw, latencyDraw, statusDraw] = [random(), random(), random(), random()];
  if (!profile.enabled) return null;
  if (profile.methods.length > 0 && !profile.methods.includes(method as FaultProfile["methods"][number])) {
    return null;
  }
  const { min, max } = profile.latencyMs;
  const delayMs = min + Math.floor(latencyDraw * (max - min + 1));
  const burst = profile.rateLimitBurst;
  if (burst && sequence % burst.every < burst.length) {
    return {
      kind: "status",
      status: 429,
      phase: "before",
      retryAfterSeconds: burst.retryAfterSeconds,
      delayMs,
    };
  }
  if (timeoutDraw < profile.timeoutRate) return { kind: "timeout", delayMs: profile.timeoutMs };
  if (errorDraw < profile.errorRate) {
    return {
      kind: "status",
      status: pickStatus(profile.statusMix, statusDraw),
      phase: profile.errorPhase,
      delayMs,
    };
  }
  return delayMs > 0 ? { kind: "delay", delayMs } : null;
}

function pickStatus(mix: FaultProfile["statusMix"], draw: number): number {
  const entries = Object.entries(mix).filter(([, w]) => (w ?? 0) > 0) as [string, number][];
  const total = entries.reduce((sum, [, w]) => sum + w, 0);
  let point = draw * total;
  for (const [status, weight] of entries) {
    if (point < weight) return Number(status);
    point -= weight;
  }
  return Number(entries[entries.length - 1]?.[0] ?? 500);
}

const HEADER_STATUSES = new Set<string>(["429", ...FAULT_STATUSES]);

/**
 * Parses `X-Acme-Fault`: `status=503`, `status=429; retry-after=2`, `delay=800`, `timeout`,
 * `timeout=2000`, `status=500; phase=after`. Returns an error message for anything else.
 */
export function parseFaultHeader(header: string): Fault | { error: string } {
  const params = new Map<string, string>();
  for (const part of header.split(/[;,]/)) {
    const [rawKey, ...rest] = part.split("=");
    const key = rawKey?.trim().toLowerCase();
    if (!key) continue;
    params.set(key, rest.join("=").trim());
  }
  const known = new Set(["status", "retry-after", "delay", "timeout", "phase"]);
  const unknown = [...params.keys()].filter((k) => !known.has(k));
  if (unknown.length > 0) return { error: `unknown X-Acme-Fault parameter: ${unknown.join(", ")}` };
  const number = (key: string, max: number): number | { error: string } | undefined => {
    const value = params.get(key);
    if (value === undefined) return undefined;
    if (!/^\d+$/.test(value) || Number(value) > max) return { error: `X-Acme-Fault ${key} must be 0-${max}` };
    return Number(value);
  };
  const delay = number("delay", 60_000);
  const retryAfter = number("retry-after", 3600);
  if (typeof delay === "object") return delay;
  if (typeof retryAfter === "object") return retryAfter;
  if (params.has("timeout")) {
    const raw = params.get("timeout") ?? "";
    const timeout = raw === "" ? 30_000 : number("timeout", 120_000);
    if (typeof timeout === "object") return timeout;
    return { kind: "timeout", delayMs: timeout ?? 30_000 };
  }
  if (params.has("status")) {
    // Only statuses the middleware can answer with; anything else would silently become a 503.
    const raw = params.get("status") ?? "";
    if (!HEADER_STATUSES.has(raw)) {
      return { error: `X-Acme-Fault status must be one of ${[...HEADER_STATUSES].join(", ")}` };
    }
    const status = Number(raw);
    const phase = params.get("phase") ?? "before";
    if (phase !== "before" && phase !== "after")
      return { error: "X-Acme-Fault phase must be before or after" };
    return {
      kind: "status",
      status,
      phase,
      delayMs: delay ?? 0,
      ...(retryAfter !== undefined ? { retryAfterSeconds: retryAfter } : {}),
    };
  }
  if (delay !== undefined) return { kind: "delay", delayMs: delay };
  return { error: "X-Acme-Fault needs status, delay or timeout" };
}
