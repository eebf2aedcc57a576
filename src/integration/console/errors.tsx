import type { Context } from "hono";
import { HTTPException } from "hono/http-exception";
import { errorFields, log } from "../../lib/logger.ts";
import { ApiError } from "../errors.ts";
import type { ConsoleEnv } from "./context.ts";
import { Page } from "./layout.tsx";

/** A console failure the operator can act on: shown as a page with this status and message. */
export class ConsoleError extends Error {
  constructor(
    readonly status: 400 | 403 | 404 | 409 | 429 | 502 | 503 | 504,
    message: string,
  ) {
    super(message);
    this.name = "ConsoleError";
  }
}

/** The console's error page; internal details go to the log only, with the request id shown. */
export function renderConsoleError(error: Error, c: Context<ConsoleEnv>) {
  let status: ConsoleError["status"] | 500;
  let message: string;
  if (error instanceof ConsoleError) {
    status = error.status;
    message = error.message;
  } else if (error instanceof ApiError && error.status < 500) {
    // The Acme client's problems (throttled, circuit open, timed out) keep their status and detail.
    status = error.status === 429 ? 429 : 400;
    message = error.message;
  } else if (
    error instanceof ApiError &&
    (error.status === 502 || error.status === 503 || error.status === 504)
  ) {
    status = error.status;
    message = error.message;
  } else if (error instanceof HTTPException && error.status === 403) {
    // hono/csrf: a form posted from another origin.
    status = 403;
    message = "This form was sent from another site, so it was refused. Use the console's own pages.";
  } else {
    log("error", "console request failed", {
      requestId: c.var.requestId,
      path: c.req.path,
      ...errorFields(error),
    });
    status = 500;
    message = `Something went wrong; quote request ${c.var.requestId} when reporting it.`;
  }
  const operator = c.get("operator") ?? null;
  return c.html(
    <Page title="Something is wrong" operator={operator} path={c.req.path}>
      <p role="alert" class="notice alert">
        {message}
      </p>
      <p>
        <a href="/console">Back to the console</a>
      </p>
    </Page>,
    status,
  );
}
