import { eq } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { PKCE_VALUE } from "../../lib/pkce.ts";
import { ACME_SCOPES } from "../auth/bearer.ts";
import { type OAuthAppRow, oauthApps } from "../db/schema.ts";

/** The longest `state` echoed back, in characters. */
export const MAX_STATE_LENGTH = 1000;

/** The parameters of an authorization request (RFC 6749 4.1.1, RFC 7636 4.3), as the page carries them on. */
export interface AuthorizationRequest {
  app: OAuthAppRow;
  clientId: string;
  redirectUri: string;
  /** Space-separated; every one of ACME_SCOPES when the request named none. */
  scope: string;
  state: string | undefined;
  codeChallenge: string;
}

/** RFC 6749 4.1.2.1 error codes sent back to the client through its redirect URI. */
export type AuthorizeErrorCode =
  | "invalid_request"
  | "unsupported_response_type"
  | "invalid_scope"
  | "access_denied"
  | "server_error";

/**
 * What an authorization request comes to: a request to show the page for, an error for the
 * user's eyes only (the client or redirect URI cannot be trusted, so never a redirect), or an
 * error to send back to the registered redirect URI with the request's `state`.
 */
export type AuthorizeOutcome =
  | { kind: "valid"; request: AuthorizationRequest }
  | { kind: "fatal"; message: string }
  | {
      kind: "redirect";
      redirectUri: string;
      error: AuthorizeErrorCode;
      description: string;
      state: string | undefined;
    };

const PARAMETERS_WE_READ = [
  "response_type",
  "client_id",
  "redirect_uri",
  "scope",
  "state",
  "code_challenge",
  "code_challenge_method",
] as const;

/**
 * Checks an authorization request in RFC 6749 4.1.2.1's order: the client and its redirect URI
 * first (each missing, repeated, unknown or not registered exactly: `fatal`), then everything
 * else (`redirect` with the error). `pairs` are the parameters as sent, repeats included.
 */
export async function checkAuthorizationRequest(
  db: D1Database,
  pairs: [string, string][],
): Promise<AuthorizeOutcome> {
  const values = new Map<string, string[]>();
  for (const [name, value] of pairs) values.set(name, [...(values.get(name) ?? []), value]);
  const single = (name: string) => {
    const all = values.get(name) ?? [];
    return all.length === 1 ? all[0] : undefined;
  };

  const clientIds = values.get("client_id") ?? [];
  if (clientIds.length !== 1 || !clientIds[0]) {
    return { kind: "fatal", message: "The request must name its client_id exactly once." };
  }
  const clientId = clientIds[0];
  const app = await drizzle(db).select().from(oauthApps).where(eq(oauthApps.clientId, clientId)).get();
  if (!app) return { kind: "fatal", message: "This application is not registered with Acme." };

  const redirectUris = values.get("redirect_uri") ?? [];
  const redirectUri = redirectUris[0];
  if (redirectUris.length !== 1 || !redirectUri) {
    return { kind: "fatal", message: "The request must name its redirect_uri exactly once." };
  }
  // RFC 9700 4.1.3: exact string comparison, no normalisation (ports, paths, queries all count).
  if (!(JSON.parse(app.redirectUris) as string[]).includes(redirectUri)) {
    return { kind: "fatal", message: "This redirect_uri is not registered for the application." };
  }

  const stateValues = values.get("state") ?? [];
  const state =
    stateValues.length === 1 && (stateValues[0] ?? "").length <= MAX_STATE_LENGTH
      ? stateValues[0]
      : undefined;
  const fail = (error: AuthorizeErrorCode, description: string): AuthorizeOutcome => ({
    kind: "redirect",
    redirectUri,
    error,
    description,
    state,
  });

  const repeated = PARAMETERS_WE_READ.filter((name) => (values.get(name)?.length ?? 0) > 1);
  if (repeated.length > 0) return fail("invalid_request", `Repeated: ${repeated.join(", ")}.`);
  if (stateValues.length === 1 && state === undefined) {
    return fail("invalid_request", `state is longer than ${MAX_STATE_LENGTH} characters.`);
  }
  const responseType = single("response_type");
  if (!responseType) return fail("invalid_request", "response_type is required.");
  if (responseType !== "code")
    return fail("unsupported_response_type", "Only response_type=code is supported.");
  const codeChallenge = single("code_challenge");
  if (!codeChallenge) return fail("invalid_request", "PKCE is required: code_challenge is missing.");
  if (single("code_challenge_method") !== "S256") {
    return fail("invalid_request", "code_challenge_method must be S256.");
  }
  if (!PKCE_VALUE.test(codeChallenge)) return fail("invalid_request", "code_challenge is malformed.");

  const asked = single("scope");
  let scope: string = ACME_SCOPES.join(" ");
  if (asked !== undefined && asked.trim() !== "") {
    const scopes = [...new Set(asked.split(" ").filter(Boolean))];
    const known = new Set<string>(ACME_SCOPES);
    const unknown = scopes.filter((s) => !known.has(s));
    if (unknown.length > 0) return fail("invalid_scope", `Unknown scope: ${unknown.join(" ")}.`);
    scope = scopes.join(" ");
  }
  return { kind: "valid", request: { app, clientId, redirectUri, scope, state, codeChallenge } };
}
