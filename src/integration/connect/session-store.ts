import { newId } from "../../lib/ids.ts";
import { newCodeVerifier } from "../../lib/pkce.ts";
import type { SecretKeyRing } from "../../lib/secret-box.ts";
import type { ConnectionMethod } from "../db/schema.ts";
import { mintConnectToken, secretHash, stateFor } from "./connect-tokens.ts";
import type { ConnectSession, ConnectSessionRow } from "./session-object.ts";

export type { ConnectSessionRow } from "./session-object.ts";

/** What a connect session is for. */
export interface NewConnectSession {
  endUserId: string;
  method: ConnectionMethod;
  redirectUrl: string | null;
  /** The connection to repair in place; null to find or create one. */
  connectionId: string | null;
}

/** The AAD a session's PKCE verifier is sealed under. */
export function verifierContext(sessionId: string): string {
  return `${sessionId}:pkce`;
}

/** The object holding the session whose OAuth state hashes to `stateHash`. */
function sessionObject(namespace: DurableObjectNamespace<ConnectSession>, stateHash: string) {
  return namespace.get(namespace.idFromName(stateHash));
}

/**
 * Stores a new connect session living `ttlSeconds` from `now` (epoch ms) in its own object and
 * returns its token, shown once (the object keeps its hash), with the row. An OAuth session gets
 * its PKCE verifier, sealed with `keys`. One object call.
 */
export async function createConnectSession(
  namespace: DurableObjectNamespace<ConnectSession>,
  secrets: { keys: SecretKeyRing; idTagKey: string },
  input: NewConnectSession,
  options: { now: number; ttlSeconds: number },
): Promise<{ token: string; row: ConnectSessionRow }> {
  const id = newId("cses");
  const token = await mintConnectToken(secrets.idTagKey);
  const row: ConnectSessionRow = {
    id,
    tokenHash: await secretHash(token),
    stateHash: await secretHash(await stateFor(secrets.idTagKey, token)),
    codeVerifierEnc:
      input.method === "oauth" ? await secrets.keys.seal(newCodeVerifier(), verifierContext(id)) : null,
    method: input.method,
    endUserId: input.endUserId,
    redirectUrl: input.redirectUrl,
    connectionId: input.connectionId,
    createdAt: new Date(options.now).toISOString(),
    expiresAt: options.now + options.ttlSeconds * 1000,
    usedAt: null,
  };
  // 32 random bytes: a second session under the same state is not going to happen, but is refused.
  if (!(await sessionObject(namespace, row.stateHash).create(row))) {
    throw new Error("a connect session with this state exists already");
  }
  return { token, row };
}

/**
 * The session whose token is `token` (its object found through the state the token derives), or
 * null. One object call.
 */
export async function findConnectSession(
  namespace: DurableObjectNamespace<ConnectSession>,
  idTagKey: string,
  token: string,
): Promise<ConnectSessionRow | null> {
  const stateHash = await secretHash(await stateFor(idTagKey, token));
  const row = await sessionObject(namespace, stateHash).read();
  return row && row.tokenHash === (await secretHash(token)) ? row : null;
}

/** Whether a session can still be used at `now` (epoch ms): neither used nor expired. */
export function sessionUsable(row: ConnectSessionRow, now: number): boolean {
  return row.usedAt === null && row.expiresAt > now;
}

/**
 * Uses up the session whose OAuth `state` is `state`, whether or not it has expired (the caller
 * looks), and returns it; null when no session has this state or it was used already. Atomic (its
 * object is the one writer), so of two callbacks with one state only one gets the session.
 */
export async function claimSessionByState(
  namespace: DurableObjectNamespace<ConnectSession>,
  state: string,
  now: number,
): Promise<ConnectSessionRow | null> {
  return sessionObject(namespace, await secretHash(state)).claim(now, false);
}

/**
 * Uses up `session` if it is still usable at `now`; returns false when it was used or has expired
 * meanwhile. Atomic (one object call).
 */
export async function claimSession(
  namespace: DurableObjectNamespace<ConnectSession>,
  session: Pick<ConnectSessionRow, "stateHash">,
  now: number,
): Promise<boolean> {
  return (await sessionObject(namespace, session.stateHash).claim(now, true)) !== null;
}
