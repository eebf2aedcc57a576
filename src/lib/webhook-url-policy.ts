import ipaddr from "ipaddr.js";

// Which URLs a webhook may be sent to: Acme's subscriptions and the integration's destinations
// pass this one policy. The host is classified as written: names are not resolved (Workers have no
// resolver API, and Cloudflare's network cannot reach private addresses anyway); these checks keep
// every literal internal target out, however it is spelled. URL parsing has already normalised the
// spelling: decimal, octal and hex IPv4 forms become dotted decimal, IPv6 is compressed, names are
// lower-cased and IDNA-mapped.

/**
 * Special-use and private-use names (RFC 6761, RFC 6762 `.local`, RFC 7686 `.onion`, RFC 8375
 * `home.arpa`, RFC 9476 `.alt`, ICANN's `.internal`) and the common private suffixes: no public
 * receiver lives under them. `.arpa` covers reverse-lookup names such as 1.0.0.127.in-addr.arpa.
 */
const LOCAL_NAME_SUFFIXES = [
  "localhost",
  "local",
  "internal",
  "arpa",
  "alt",
  "onion",
  "invalid",
  "test",
  "example",
  "lan",
  "localdomain",
  "intranet",
  "corp",
  "home",
];

/** IANA's global unicast space; everything else is reserved, special-purpose or multicast. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR("2000::/3");
/** The NAT64 well-known prefix (RFC 6052); the local-use 64:ff9b:1::/48 is not global. */
const NAT64_WELL_KNOWN = ipaddr.parseCIDR("64:ff9b::/96");

/** Where a host leads: the public internet, this machine, or anywhere else (private, reserved...). */
export type HostClass = "public" | "loopback" | "local";

function ipv4FromBits(high: number, low: number): ipaddr.IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff]);
}

function classifyIpv4(address: ipaddr.IPv4): HostClass {
  const range = address.range();
  if (range === "loopback") return "loopback";
  // ipaddr names every special-purpose range of IANA's IPv4 registry (private, CGNAT,
  // link-local, documentation, benchmarking, reserved, multicast...); only the rest is public.
  return range === "unicast" ? "public" : "local";
}

/** Public only if every IPv4 address the form embeds is public (and never loopback). */
function embeddedPublic(addresses: ipaddr.IPv4[]): HostClass {
  return addresses.every((a) => classifyIpv4(a) === "public") ? "public" : "local";
}

function classifyIpv6(address: ipaddr.IPv6): HostClass {
  const p = address.parts;
  const range = address.range();
  // ::ffff:a.b.c.d is the IPv4 host itself on a dual-stack socket, loopback included.
  if (range === "ipv4Mapped") return classifyIpv4(address.toIPv4Address());
  if (range === "loopback") return "loopback";
  if (range === "rfc6145") return embeddedPublic([ipv4FromBits(p[6] ?? 0, p[7] ?? 0)]);
  if (address.match(NAT64_WELL_KNOWN)) return embeddedPublic([ipv4FromBits(p[6] ?? 0, p[7] ?? 0)]);
  if (range === "6to4") return embeddedPublic([ipv4FromBits(p[1] ?? 0, p[2] ?? 0)]);
  if (range === "teredo") {
    // Teredo (RFC 4380): the server's address in bits 32-63, the client's inverted in 96-127.
    const server = ipv4FromBits(p[2] ?? 0, p[3] ?? 0);
    const client = ipv4FromBits(~(p[6] ?? 0) & 0xffff, ~(p[7] ?? 0) & 0xffff);
    return embeddedPublic([server, client]);
  }
  // ::/96 (IPv4-compatible), local-use NAT64, discard, ULA, link-local, multicast, documentation
  // and the other special-purpose blocks are all either named by ipaddr or outside 2000::/3.
  return range === "unicast" && address.match(GLOBAL_UNICAST_V6) ? "public" : "local";
}

function classifyName(name: string): HostClass {
  const labels = name.split(".");
  const last = labels[labels.length - 1] ?? "";
  if (last === "localhost") return "loopback";
  // A single label is resolved through local search domains, never on the public DNS.
  if (labels.length < 2 || LOCAL_NAME_SUFFIXES.includes(last) || name.endsWith(".home.arpa")) return "local";
  return "public";
}

/** Where `hostname` (as `URL` gives it) leads: a public host, this machine, or a private network. */
export function classifyHost(hostname: string): HostClass {
  if (hostname.startsWith("[")) {
    const inner = hostname.slice(1, -1);
    return ipaddr.IPv6.isValid(inner) ? classifyIpv6(ipaddr.IPv6.parse(inner)) : "local";
  }
  if (ipaddr.IPv4.isValidFourPartDecimal(hostname)) return classifyIpv4(ipaddr.IPv4.parse(hostname));
  // "localhost." and "localhost" are the same name: the root's dot is optional.
  return classifyName(hostname.replace(/\.+$/, ""));
}

/**
 * How an accepted URL is written: `https://` (any case), then no space, control character or
 * backslash. URL parsing would repair those (it strips surrounding spaces and inner tabs, reads
 * `\` as `/` and `https:host` as `https://host`), so without this the document's pattern could
 * not say exactly what is accepted. The OpenAPI document states it as the field's `pattern`.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
export const HTTPS_URL_SPELLING = /^[Hh][Tt][Tt][Pp][Ss]:\/\/[^\x00-\x20\x7f\\]+$/;
/** The same for `http://`, which only loopback targets in local dev may use. */
// biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are what it refuses
const HTTP_URL_SPELLING = /^[Hh][Tt][Tt][Pp]:\/\/[^\x00-\x20\x7f\\]+$/;

const SPELLING_PROBLEM =
  "must be written as https://host/path, without spaces, control characters or backslashes";

/**
 * Null when `raw` is an acceptable webhook target, otherwise why not: an absolute `https` URL
 * without credentials to a public host, written out plainly (HTTPS_URL_SPELLING). With
 * `allowLoopback` (local dev), loopback hosts are also accepted, over `http` too; nothing else is
 * relaxed. The deployment's allowance comes in as that flag (Acme: ACME_WEBHOOK_ALLOW_LOOPBACK),
 * never read here. The problem is a phrase to follow "the URL", such as "must use https"; never
 * throws.
 */
export function webhookUrlProblem(raw: string, options: { allowLoopback: boolean }): string | null {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return "must be an absolute URL";
  }
  if (url.username || url.password) return "must not contain credentials";
  const web = url.protocol === "http:" || url.protocol === "https:";
  const host = classifyHost(url.hostname);
  if (options.allowLoopback && host === "loopback") {
    if (!web) return "must use http or https";
    return HTTPS_URL_SPELLING.test(raw) || HTTP_URL_SPELLING.test(raw) ? null : SPELLING_PROBLEM;
  }
  if (url.protocol !== "https:") return "must use https";
  if (host === "public") return HTTPS_URL_SPELLING.test(raw) ? null : SPELLING_PROBLEM;
  const literal = url.hostname.startsWith("[") || ipaddr.IPv4.isValidFourPartDecimal(url.hostname);
  return literal ? "must not target a private, loopback or link-local address" : "must be a public host";
}
