import { openSecret } from "../../lib/secret-box.ts";
import type { RequestStats } from "../context.ts";
import type { ConnectionRow } from "../db/schema.ts";
import { ApiError } from "../errors.ts";
import type { AcmeSession } from "../session/acme-session.ts";
import type { AcmeTransport } from "./transport.ts";
import { transportFor } from "./transport.ts";

export interface AcmeResponse {
  status: number;
  headers: Headers;
  body: unknown;
}

export interface AcmeRequest {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
}

export interface AcmeClientOptions {
  connection: ConnectionRow;
  session: DurableObjectStub<AcmeSession>;
  inProcess: AcmeTransport;
  defaultBaseUrl: string | undefined;
  encryptionKey: string;
  attemptTimeoutMs: number;
  stats: RequestStats;
}

class AttemptTimeout extends Error {}

/**
 * The one way the integration talks to Acme for a connection: token from the connection's
 * AcmeSession (single flight), a timeout per attempt, and one re-authentication when Acme says 401.
 */
export class AcmeClient {
  private readonly baseUrl: string;
  private readonly transport: AcmeTransport;

  constructor(private readonly options: AcmeClientOptions) {
    const resolved = transportFor(
      options.connection.acmeBaseUrl ?? options.defaultBaseUrl,
      options.inProcess,
    );
    this.baseUrl = resolved.baseUrl;
    this.transport = resolved.transport;
  }

  async send(request: AcmeRequest): Promise<AcmeResponse> {
    let token = await this.token();
    let response = await this.attempt(request, token);
    if (response.status === 401) {
      // The token was revoked or the signing key rotated: refresh once, retry once.
      await this.options.session.invalidateToken(token);
      token = await this.token();
      response = await this.attempt(request, token);
    }
    return response;
  }

  private async token(): Promise<string> {
    const grant = await this.options.session.acquireToken();
    if (grant.kind === "token") return grant.accessToken;
    try {
      const { accessToken, expiresIn } = await this.fetchToken();
      await this.options.session.storeToken(grant.leaseId, accessToken, expiresIn);
      return accessToken;
    } catch (error) {
      await this.options.session.releaseLease(grant.leaseId);
      throw error;
    }
  }

  private async fetchToken(): Promise<{ accessToken: string; expiresIn: number }> {
    const { connection, encryptionKey } = this.options;
    const secret = await openSecret(encryptionKey, connection.acmeClientSecretEnc, connection.id);
    const basic = btoa(`${encodeURIComponent(connection.acmeClientId)}:${encodeURIComponent(secret)}`);
    const response = await this.exchange(
      new Request(`${this.baseUrl}/oauth/token`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${basic}` },
        body: "grant_type=client_credentials",
      }),
    );
    const body = response.body as { access_token?: unknown; expires_in?: unknown } | null;
    if (
      response.status === 200 &&
      typeof body?.access_token === "string" &&
      typeof body.expires_in === "number"
    ) {
      return { accessToken: body.access_token, expiresIn: body.expires_in };
    }
    if (response.status === 400 || response.status === 401) {
      throw new ApiError("acme_auth_failed", "Acme refused this connection's client credentials.");
    }
    if (response.status === 429) {
      throw new ApiError("acme_rate_limited", "Acme's token endpoint is rate limiting this connection.", {
        headers: { "Retry-After": response.headers.get("retry-after") ?? "1" },
      });
    }
    if (response.status >= 500) {
      throw new ApiError("acme_unavailable", "Acme's token endpoint is unavailable.", {
        headers: { "Retry-After": response.headers.get("retry-after") ?? "1" },
      });
    }
    throw new ApiError("acme_bad_response", `Acme's token endpoint answered ${response.status}.`);
  }

  private attempt(request: AcmeRequest, token: string): Promise<AcmeResponse> {
    const url = new URL(`${this.baseUrl}${request.path}`);
    for (const [key, value] of Object.entries(request.query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, value);
    }
    const headers: Record<string, string> = { accept: "application/json", ...request.headers };
    headers.authorization = `Bearer ${token}`;
    if (request.body !== undefined) headers["content-type"] = "application/json";
    return this.exchange(
      new Request(url, {
        method: request.method,
        headers,
        ...(request.body !== undefined ? { body: JSON.stringify(request.body) } : {}),
      }),
    );
  }

  /** One HTTP exchange with the per-attempt timeout; network failures and timeouts become problems. */
  private async exchange(request: Request): Promise<AcmeResponse> {
    const { attemptTimeoutMs, stats } = this.options;
    stats.acmeAttempts += 1;
    const controller = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        controller.abort();
        reject(new AttemptTimeout());
      }, attemptTimeoutMs);
    });
    try {
      const response = await Promise.race([
        this.transport(new Request(request, { signal: controller.signal })),
        timeout,
      ]);
      const text = await Promise.race([response.text(), timeout]);
      let body: unknown = null;
      if (text.length > 0) {
        try {
          body = JSON.parse(text);
        } catch {
          if (response.status < 500) {
            throw new ApiError(
              "acme_bad_response",
              `Acme answered ${response.status} with a body that is not JSON.`,
            );
          }
        }
      }
      return { status: response.status, headers: response.headers, body };
    } catch (error) {
      if (error instanceof ApiError) throw error;
      if (error instanceof AttemptTimeout) {
        throw new ApiError("acme_timeout", `Acme did not answer within ${attemptTimeoutMs} ms.`, {
          headers: { "Retry-After": "1" },
        });
      }
      throw new ApiError("acme_unavailable", "Acme could not be reached.", {
        headers: { "Retry-After": "1" },
      });
    } finally {
      if (timer !== undefined) clearTimeout(timer);
    }
  }
}
