/** Hosts an app may register plain-http redirect URIs for (RFC 8252 7.3, RFC 9700 2.1). */
const LOOPBACK_HOSTS = new Set(["127.0.0.1", "localhost", "[::1]"]);

/**
 * Why a URI cannot be registered as a redirect URI, or null when it can: absolute, https (http
 * only to a loopback host), no userinfo, no fragment (RFC 6749 3.1.2), at most 2000 characters.
 * Requests must later name it character for character (RFC 9700 4.1.3: exact matching).
 */
export function redirectUriProblem(uri: string): string | null {
  if (uri.length > 2000) return "must be at most 2000 characters";
  if (!URL.canParse(uri)) return "must be an absolute URI";
  const url = new URL(uri);
  if (url.protocol !== "https:" && url.protocol !== "http:")
    return "must be https (or http to a loopback host)";
  if (url.protocol === "http:" && !LOOPBACK_HOSTS.has(url.hostname)) {
    return "http is allowed only for 127.0.0.1, localhost and [::1]";
  }
  if (url.username || url.password || /^[a-z]+:\/\/[^/?#]*@/i.test(uri)) return "must not carry userinfo";
  if (uri.includes("#")) return "must not have a fragment";
  return null;
}

/** The origin a registered redirect URI sends the browser to (for the page's form-action). */
export function redirectOrigin(uri: string): string {
  return new URL(uri).origin;
}

/** `uri` with `params` appended to its query (kept if it has one), as RFC 6749 4.1.2 asks. */
export function withQuery(uri: string, params: Record<string, string | undefined>): string {
  const url = new URL(uri);
  for (const [name, value] of Object.entries(params))
    if (value !== undefined) url.searchParams.append(name, value);
  return url.href;
}
