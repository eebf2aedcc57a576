import { expect } from "vitest";
import { D1_MAX_QUERIES_PER_INVOCATION } from "../../src/lib/d1-limits.ts";
import { QUEUE_MAX_BODY_BYTES, queueMessageBytes } from "../../src/lib/queue-limits.ts";
import {
  KV_MAX_OPERATIONS_PER_INVOCATION,
  WORKER_MAX_OPEN_CONNECTIONS,
  WORKER_MAX_SUBREQUESTS,
} from "../../src/lib/worker-limits.ts";

/**
 * Cloudflare's per-invocation limits on Workers Paid that a budget test holds code to, each with
 * the page that states it (the constants themselves live in src/lib, beside the code that obeys
 * them).
 */
export const WORKERS_PAID_LIMITS = {
  /** https://developers.cloudflare.com/d1/platform/limits/ ("Queries per Worker invocation") */
  d1Queries: D1_MAX_QUERIES_PER_INVOCATION,
  /** https://developers.cloudflare.com/kv/platform/limits/ ("Operations/Worker invocation") */
  kvOperations: KV_MAX_OPERATIONS_PER_INVOCATION,
  /** https://developers.cloudflare.com/workers/platform/limits/#subrequests */
  subrequests: WORKER_MAX_SUBREQUESTS,
  /** https://developers.cloudflare.com/workers/platform/limits/#simultaneous-open-connections */
  openConnections: WORKER_MAX_OPEN_CONNECTIONS,
  /** https://developers.cloudflare.com/queues/platform/limits/ (128 KB less ~100 bytes of metadata) */
  queueMessageBytes: QUEUE_MAX_BODY_BYTES,
} as const;

/**
 * What one invocation asked of the platform, as {@link countOperations} saw it. Every count is
 * conservative: where Cloudflare's pages leave room (a KV bulk read, whether a binding call is a
 * subrequest), the larger reading is taken.
 */
export interface OperationCounts {
  /** D1 statements run: each `first`/`run`/`all`/`raw` is one, a `batch()` of n is n, an `exec` its statements. */
  d1Queries: number;
  /** D1 round trips: a `batch()` is one, however many statements it holds. */
  d1Calls: number;
  /**
   * KV operations: `put`, `delete`, `list` one each, `get` and `getWithMetadata` one per key asked
   * (the KV limits page counts a bulk read of up to 100 keys as one; counted here per key).
   */
  kvOperations: number;
  /**
   * `send` and `sendBatch` calls on queues: one subrequest each however many messages it carries
   * (the runtime makes one request per call; a `sendBatch` takes at most 100 messages).
   */
  queueCalls: number;
  /** Messages those calls carried. */
  queueMessages: number;
  /** The largest message sent, in bytes as the queue measures it (see `queueMessageBytes`). */
  largestQueueMessageBytes: number;
  /** Calls on Durable Object stubs: `fetch` and every RPC method. */
  durableObjectCalls: number;
  /** Calls on Workflow bindings and their instances (`create`, `get`, `status`, ...). */
  workflowCalls: number;
  /** `fetch` calls through a counted fetch (see {@link OperationCounter.fetch}). */
  fetches: number;
  /** The most counted fetches waiting for their response at one time. */
  maxInFlightFetches: number;
  /**
   * The most outgoing connections waiting at one time: fetches, KV and queue calls, the calls
   * Cloudflare names as taking one of the six.
   */
  maxInFlightConnections: number;
}

/**
 * Subrequests in `counts`: every call that leaves the isolate (fetches, Durable Object, Queue,
 * Workflow and KV calls, D1 round trips). Cloudflare counts "any request ... to Cloudflare services
 * like R2, KV, or D1"; counting all of them is the safe reading.
 */
export function subrequests(counts: OperationCounts): number {
  return (
    counts.fetches +
    counts.durableObjectCalls +
    counts.queueCalls +
    counts.workflowCalls +
    counts.kvOperations +
    counts.d1Calls
  );
}

/** A `fetch`-shaped function, as the code under test takes one. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/** An environment whose bindings count what is asked of them (see {@link countOperations}). */
export interface OperationCounter<E extends object> {
  /** `env` with every D1, KV, Queue, Durable Object and Workflow binding counted; vars as they were. */
  readonly env: E;
  /** The counts so far (live: read them after the invocation). */
  readonly counts: OperationCounts;
  /** `inner`, counted as fetches and tracked while each waits for its response. */
  fetch<F extends FetchLike>(inner: F): F;
  /** `binding` counted like the ones in `env` (a queue or database a test passes in itself). */
  binding<B extends object>(binding: B): B;
  /** Replaces the global `fetch` with a counted one until the returned function is called. */
  countGlobalFetch(): () => void;
  /** Zeroes every count (the bindings stay counted). */
  reset(): void;
}

function zeroCounts(): OperationCounts {
  return {
    d1Queries: 0,
    d1Calls: 0,
    kvOperations: 0,
    queueCalls: 0,
    queueMessages: 0,
    largestQueueMessageBytes: 0,
    durableObjectCalls: 0,
    workflowCalls: 0,
    fetches: 0,
    maxInFlightFetches: 0,
    maxInFlightConnections: 0,
  };
}

type Method = (...args: unknown[]) => unknown;
type Interceptors = Record<string, (original: Method, args: unknown[]) => unknown>;

/**
 * `target` behind a Proxy whose listed methods go through their interceptor (given the original,
 * bound to `target`); every other member reads from `target` itself, methods bound to it, because
 * the runtime's binding objects refuse calls on any other receiver.
 */
function intercept<T extends object>(target: T, interceptors: Interceptors): T {
  return new Proxy(target, {
    get(object, property) {
      const value: unknown = Reflect.get(object, property);
      const around = typeof property === "string" ? interceptors[property] : undefined;
      if (typeof value !== "function") return value;
      const original = (value as Method).bind(object);
      return around ? (...args: unknown[]) => around(original, args) : original;
    },
  });
}

const hasMethods = (value: unknown, ...names: string[]): value is Record<string, Method> =>
  typeof value === "object" &&
  value !== null &&
  names.every((name) => typeof (value as Record<string, unknown>)[name] === "function");

/**
 * Wraps `env` so a test can count what one invocation asks of the platform, then hold it to
 * {@link WORKERS_PAID_LIMITS} with {@link expectWithinBudget}. Bindings are recognised by shape:
 * D1 (`prepare`, `batch`), Durable Object namespaces (`idFromName`, `get`), KV (`get`, `put`,
 * `list`), queues (`send`, `sendBatch`) and Workflows (`create`, `get`); other values pass through.
 * Pass the counted `env` (and {@link OperationCounter.fetch} where the code takes a fetch) to the
 * code under test, then read `counts`.
 */
export function countOperations<E extends object>(env: E): OperationCounter<E> {
  const counts = zeroCounts();
  let fetchesInFlight = 0;
  let connectionsInFlight = 0;
  /** Real D1 statements behind the counted ones, for `batch()`, which takes only its own. */
  const statements = new WeakMap<object, D1PreparedStatement>();

  async function asConnection<T>(call: () => Promise<T>): Promise<T> {
    connectionsInFlight++;
    counts.maxInFlightConnections = Math.max(counts.maxInFlightConnections, connectionsInFlight);
    try {
      return await call();
    } finally {
      connectionsInFlight--;
    }
  }

  function query(original: Method, args: unknown[]) {
    counts.d1Queries++;
    counts.d1Calls++;
    return original(...args);
  }

  function countedStatement(statement: D1PreparedStatement): D1PreparedStatement {
    const counted = intercept(statement, {
      bind: (original, args) => countedStatement(original(...args) as D1PreparedStatement),
      first: query,
      run: query,
      all: query,
      raw: query,
    });
    statements.set(counted, statement);
    return counted;
  }

  /** A D1 database or session: statements counted when they run, a batch as its statements. */
  function countedDatabase<D extends object>(database: D): D {
    return intercept(database, {
      prepare: (original, args) => countedStatement(original(...args) as D1PreparedStatement),
      batch: (original, [batch, ...rest]) => {
        const list = batch as D1PreparedStatement[];
        counts.d1Queries += list.length;
        counts.d1Calls++;
        return original(
          list.map((statement) => statements.get(statement) ?? statement),
          ...rest,
        );
      },
      exec: async (original, args) => {
        counts.d1Calls++;
        try {
          const result = (await original(...args)) as D1ExecResult;
          counts.d1Queries += result.count;
          return result;
        } catch (error) {
          counts.d1Queries++;
          throw error;
        }
      },
      withSession: (original, args) => countedDatabase(original(...args) as object),
    });
  }

  function kvOperation(perKey: boolean) {
    return (original: Method, args: unknown[]) => {
      counts.kvOperations += perKey && Array.isArray(args[0]) ? args[0].length : 1;
      return asConnection(() => original(...args) as Promise<unknown>);
    };
  }

  function queueSend(original: Method, args: unknown[], bodies: { body: unknown }[]) {
    counts.queueCalls++;
    counts.queueMessages += bodies.length;
    for (const { body } of bodies) {
      counts.largestQueueMessageBytes = Math.max(counts.largestQueueMessageBytes, queueMessageBytes(body));
    }
    return asConnection(() => original(...args) as Promise<unknown>);
  }

  function countedStub<S extends object>(stub: S): S {
    return new Proxy(stub, {
      get(object, property) {
        const value: unknown = Reflect.get(object, property);
        // `then` stays absent so a stub is never mistaken for a promise; ids and names are local.
        if (typeof property !== "string" || property === "then" || typeof value !== "function") return value;
        return (...args: unknown[]) => {
          counts.durableObjectCalls++;
          return (object as Record<string, Method>)[property]?.(...args);
        };
      },
    });
  }

  function workflowCall(wrapResult: boolean) {
    return (original: Method, args: unknown[]) => {
      counts.workflowCalls++;
      const result = original(...args);
      return wrapResult ? (result as Promise<object>).then(countedWorkflowInstance) : result;
    };
  }

  function countedWorkflowInstance(instance: object): object {
    const call = workflowCall(false);
    return intercept(instance, {
      status: call,
      pause: call,
      resume: call,
      terminate: call,
      restart: call,
      sendEvent: call,
    });
  }

  function binding<B extends object>(value: B): B {
    if (hasMethods(value, "prepare", "batch")) return countedDatabase(value);
    if (hasMethods(value, "idFromName", "get")) {
      const stub = (original: Method, args: unknown[]) => countedStub(original(...args) as object);
      return intercept(value, {
        get: stub,
        getByName: stub,
        jurisdiction: (original, args) => binding(original(...args) as object),
      });
    }
    if (hasMethods(value, "get", "put", "list")) {
      return intercept(value, {
        get: kvOperation(true),
        getWithMetadata: kvOperation(true),
        put: kvOperation(false),
        delete: kvOperation(false),
        list: kvOperation(false),
      });
    }
    if (hasMethods(value, "send", "sendBatch")) {
      return intercept(value, {
        send: (original, args) => queueSend(original, args, [{ body: args[0] }]),
        sendBatch: (original, args) =>
          queueSend(original, args, [...(args[0] as Iterable<{ body: unknown }>)]),
      });
    }
    if (hasMethods(value, "create", "get")) {
      return intercept(value, {
        create: workflowCall(true),
        createBatch: workflowCall(false),
        get: workflowCall(true),
      });
    }
    return value;
  }

  async function asFetch<T>(call: () => Promise<T>): Promise<T> {
    counts.fetches++;
    fetchesInFlight++;
    counts.maxInFlightFetches = Math.max(counts.maxInFlightFetches, fetchesInFlight);
    try {
      return await asConnection(call);
    } finally {
      fetchesInFlight--;
    }
  }

  const countedEnv = Object.fromEntries(
    Object.entries(env).map(([name, value]) => [
      name,
      typeof value === "object" && value !== null ? binding(value) : value,
    ]),
  ) as E;

  return {
    env: countedEnv,
    counts,
    fetch: <F extends FetchLike>(inner: F) =>
      ((input: string, init: RequestInit) => asFetch(() => inner(input, init))) as F,
    binding,
    countGlobalFetch() {
      const original = globalThis.fetch;
      globalThis.fetch = (input, init) => asFetch(() => original(input, init));
      return () => {
        globalThis.fetch = original;
      };
    },
    reset() {
      Object.assign(counts, zeroCounts());
    },
  };
}

/** How far under each limit a budget test must stay (see {@link expectWithinBudget}). */
export interface BudgetOptions {
  /**
   * The share of each count limit (D1 queries, KV operations, subrequests) left unused, from 0 to
   * 1: 0.5 means at most half. Concurrency and message size are held to the limit itself.
   */
  margin: number;
}

/** One line naming every count, for test titles, logs and failure messages. */
export function describeCounts(counts: OperationCounts): string {
  return [
    `D1 ${counts.d1Queries} queries in ${counts.d1Calls} calls`,
    `KV ${counts.kvOperations} operations`,
    `${subrequests(counts)} subrequests (${counts.fetches} fetches, ${counts.queueCalls} queue calls, ` +
      `${counts.durableObjectCalls} Durable Object calls, ${counts.workflowCalls} Workflow calls)`,
    `at most ${counts.maxInFlightFetches} fetches and ${counts.maxInFlightConnections} connections in flight`,
    `largest queue message ${counts.largestQueueMessageBytes} bytes`,
  ].join("; ");
}

/**
 * The limits `counts` passes, each as `name: used > allowed`; empty when within budget. Throws a
 * RangeError for a margin outside [0, 1).
 */
export function budgetOverruns(counts: OperationCounts, { margin }: BudgetOptions): string[] {
  if (!(margin >= 0 && margin < 1)) throw new RangeError(`margin must be in [0, 1), not ${margin}`);
  const within = (limit: number) => Math.floor(limit * (1 - margin));
  const checks: [string, number, number][] = [
    ["D1 queries", counts.d1Queries, within(WORKERS_PAID_LIMITS.d1Queries)],
    ["KV operations", counts.kvOperations, within(WORKERS_PAID_LIMITS.kvOperations)],
    ["subrequests", subrequests(counts), within(WORKERS_PAID_LIMITS.subrequests)],
    ["fetches in flight", counts.maxInFlightFetches, WORKERS_PAID_LIMITS.openConnections],
    ["connections in flight", counts.maxInFlightConnections, WORKERS_PAID_LIMITS.openConnections],
    ["queue message bytes", counts.largestQueueMessageBytes, WORKERS_PAID_LIMITS.queueMessageBytes],
  ];
  return checks.flatMap(([name, used, allowed]) => (used > allowed ? [`${name}: ${used} > ${allowed}`] : []));
}

/**
 * Fails the test when `counts` passes any of {@link WORKERS_PAID_LIMITS} less `margin` (see
 * {@link budgetOverruns}), naming each overrun and every count.
 */
export function expectWithinBudget(counts: OperationCounts, options: BudgetOptions): void {
  expect(budgetOverruns(counts, options), describeCounts(counts)).toEqual([]);
}
