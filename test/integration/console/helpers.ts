import { env, SELF } from "cloudflare:test";
import { expect } from "vitest";
import { BASE } from "../helpers.ts";

/** The session cookie's full name (hono's `host` prefix). */
export const COOKIE_NAME = "__Host-acme_bridge_console";

/** A form's fields; a list is a field sent once per value (checkboxes). */
export type FormFields = Record<string, string | string[]>;

/** A browser's request to the console: same-origin unless `origin` says otherwise; no redirects followed. */
export function consoleFetch(
  path: string,
  init: {
    method?: string;
    cookie?: string | null;
    form?: FormFields;
    origin?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.cookie) headers.cookie = `${COOKIE_NAME}=${init.cookie}`;
  const method = init.method ?? (init.form ? "POST" : "GET");
  if (method !== "GET" && init.origin !== null) headers.origin = init.origin ?? BASE;
  let body: string | undefined;
  if (init.form) {
    headers["content-type"] = "application/x-www-form-urlencoded";
    body = new URLSearchParams(
      Object.entries(init.form).flatMap(([name, value]) =>
        (Array.isArray(value) ? value : [value]).map((v) => [name, v]),
      ),
    ).toString();
  }
  return SELF.fetch(`${BASE}${path}`, { method, headers, body, redirect: "manual" });
}

/** The session cookie's value from a Set-Cookie header, or null. */
export function sessionCookieFrom(res: Response): string | null {
  const header = res.headers.getSetCookie().find((c) => c.startsWith(`${COOKIE_NAME}=`));
  return header ? (header.slice(COOKIE_NAME.length + 1).split(";")[0] ?? null) : null;
}

export interface SignedIn {
  cookie: string;
  /** The session's CSRF token, read from a rendered form. */
  csrf: string;
}

/** Signs in with the admin token and reads the CSRF token from the connections page. */
export async function signIn(): Promise<SignedIn> {
  const res = await consoleFetch("/console/sign-in", { form: { token: env.ADMIN_TOKEN, next: "/console" } });
  expect(res.status).toBe(303);
  const cookie = sessionCookieFrom(res);
  if (!cookie) throw new Error("no session cookie");
  const page = await consoleFetch("/console/connections", { cookie });
  expect(page.status).toBe(200);
  return { cookie, csrf: csrfFrom(await page.text()) };
}

export function csrfFrom(html: string): string {
  const match = /name="_csrf" value="([^"]+)"/.exec(html);
  if (!match?.[1]) throw new Error("no CSRF field on the page");
  return match[1];
}

/** Posts a console form as the signed-in operator (with the CSRF token). */
export function postForm(session: SignedIn, path: string, form: FormFields = {}): Promise<Response> {
  return consoleFetch(path, { cookie: session.cookie, form: { _csrf: session.csrf, ...form } });
}
