// Which URLs a webhook subscription may point at. Literal checks only: hostnames are not
// resolved here (Workers have no resolver API); Cloudflare's network cannot reach private
// addresses anyway, and these checks keep obvious internal targets out everywhere.

const BLOCKED_SUFFIXES = [".localhost", ".local", ".internal", ".home.arpa", ".lan"];

function ipv4(host: string): number[] | null {
  const parts = host.split(".");
  if (parts.length !== 4 || !parts.every((p) => /^\d{1,3}$/.test(p) && Number(p) <= 255)) return null;
  return parts.map(Number);
}

function privateIpv4([a, b]: number[]): boolean {
  if (a === undefined || b === undefined) return true;
  return (
    a === 0 ||
    a === 10 ||
    a === 127 ||
    (a === 100 && b >= 64 && b <= 127) ||
    (a === 169 && b === 254) ||
    (a === 172 && b >= 16 && b <= 31) ||
    (a === 192 && b === 168) ||
    (a === 198 && (b === 18 || b === 19)) ||
    a >= 224
  );
}

function privateIpv6(host: string): boolean {
  const h = host.toLowerCase();
  if (h === "::" || h === "::1") return true;
  if (/^f[cd][0-9a-f]{2}:/.test(h) || /^fe[89ab][0-9a-f]:/.test(h)) return true;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  if (mapped?.[1]) {
    const v4 = ipv4(mapped[1]);
    return v4 === null || privateIpv4(v4);
  }
  return /^::ffff:/.test(h);
}

function loopback(host: string): boolean {
  const v4 = ipv4(host);
  return host === "localhost" || host === "::1" || (v4 !== null && v4[0] === 127);
}

/** Null when `raw` is an acceptable target, otherwise why not. */
export function webhookUrlProblem(raw: string, options: { allowLoopback: boolean }): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.username || url.password) return "must not contain credentials";
  const host = url.hostname.replace(/^\[|\]$/g, "").toLowerCase();
  if (options.allowLoopback && loopback(host)) {
    return url.protocol === "http:" || url.protocol === "https:" ? null : "must use http or https";
  }
  if (url.protocol !== "https:") return "must use https";
  if (
    host === "localhost" ||
    BLOCKED_SUFFIXES.some((s) => host.endsWith(s)) ||
    (!host.includes(".") && !host.includes(":"))
  ) {
    return "must be a public host";
  }
  const v4 = ipv4(host);
  if (v4 && privateIpv4(v4)) return "must not target a private, loopback or link-local address";
  if (host.includes(":") && privateIpv6(host))
    return "must not target a private, loopback or link-local address";
  return null;
}
