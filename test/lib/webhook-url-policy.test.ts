import { describe, expect, it } from "vitest";
import { classifyHost, HTTPS_URL_SPELLING, webhookUrlProblem } from "../../src/lib/webhook-url-policy.ts";

const PRIVATE = "must not target a private, loopback or link-local address";
const NOT_PUBLIC = "must be a public host";
const strict = { allowLoopback: false };
const dev = { allowLoopback: true };

describe("webhookUrlProblem: addresses", () => {
  it.each([
    // The example: NAT64 (RFC 6052) form of 169.254.169.254, the cloud metadata address.
    ["https://[64:ff9b::a9fe:a9fe]/x", "NAT64 of link-local"],
    ["https://[64:ff9b::7f00:1]/x", "NAT64 of loopback"],
    ["https://[64:ff9b::a00:1]/x", "NAT64 of 10.0.0.1"],
    ["https://[64:ff9b:1::808:808]/x", "local-use NAT64 (RFC 8215), even of a public address"],
    ["https://[::ffff:169.254.169.254]/x", "IPv4-mapped link-local"],
    ["https://[::ffff:10.0.0.1]/x", "IPv4-mapped private"],
    ["https://[::ffff:0:a9fe:a9fe]/x", "IPv4-translated (RFC 6145)"],
    ["https://[::169.254.169.254]/x", "IPv4-compatible (deprecated ::/96)"],
    ["https://[::8.8.8.8]/x", "IPv4-compatible, even of a public address"],
    ["https://[2002:a9fe:a9fe::1]/x", "6to4 of link-local"],
    ["https://[2002:7f00:1::]/x", "6to4 of loopback"],
    ["https://[2001:0:4136:e378:8000:63bf:f5ff:fffe]/x", "Teredo whose client is 10.0.0.1"],
    ["https://[2001:0:a9fe:a9fe::1]/x", "Teredo whose server is link-local"],
    ["https://[::]/x", "IPv6 unspecified"],
    ["https://[::1]/x", "IPv6 loopback"],
    ["https://[fe80::1]/x", "IPv6 link-local"],
    ["https://[fec0::1]/x", "deprecated site-local"],
    ["https://[fc00::1]/x", "unique local"],
    ["https://[fd12:3456::1]/x", "unique local"],
    ["https://[ff02::1]/x", "multicast"],
    ["https://[100::1]/x", "discard-only (RFC 6666)"],
    ["https://[2001:db8::1]/x", "documentation"],
    ["https://[3fff::1]/x", "documentation (RFC 9637)"],
    ["https://[2001:2::1]/x", "benchmarking"],
    ["https://[2001::1]/x", "IETF protocol assignments"],
    ["https://[5f00::1]/x", "SRv6 SIDs (RFC 9602)"],
    ["https://[4000::1]/x", "outside global unicast 2000::/3"],
    ["https://0.0.0.0/x", "this network"],
    ["https://0.1.2.3/x", "this network"],
    ["https://10.1.2.3/x", "private"],
    ["https://100.64.0.1/x", "shared address space (CGNAT)"],
    ["https://127.0.0.2/x", "loopback"],
    ["https://169.254.169.254/x", "link-local"],
    ["https://172.16.0.1/x", "private"],
    ["https://172.31.255.255/x", "private"],
    ["https://192.0.0.8/x", "IETF protocol assignments"],
    ["https://192.0.2.1/x", "TEST-NET-1"],
    ["https://192.88.99.1/x", "6to4 relay anycast"],
    ["https://192.168.1.1/x", "private"],
    ["https://198.18.0.1/x", "benchmarking"],
    ["https://198.51.100.1/x", "TEST-NET-2"],
    ["https://203.0.113.1/x", "TEST-NET-3"],
    ["https://224.0.0.1/x", "multicast"],
    ["https://240.0.0.1/x", "reserved"],
    ["https://255.255.255.255/x", "broadcast"],
    // Spellings URL parsing normalises to dotted decimal (WHATWG URL, IPv4 parser).
    ["https://2130706433/x", "decimal 127.0.0.1"],
    ["https://0177.0.0.1/x", "octal 127.0.0.1"],
    ["https://0x7f.0.0.1/x", "hex 127.0.0.1"],
    ["https://0x7f000001/x", "hex 127.0.0.1 as one number"],
    ["https://127.1/x", "short 127.0.0.1"],
    ["https://0xa9.0xfe.0xa9.0xfe/x", "hex 169.254.169.254"],
    ["https://2852039166/x", "decimal 169.254.169.254"],
    ["https://0/x", "0.0.0.0 as one number"],
  ])("refuses %s (%s)", (url) => {
    expect(webhookUrlProblem(url, strict)).toBe(PRIVATE);
    expect(webhookUrlProblem(url.replace(/^https:/, "http:"), strict)).toBe("must use https");
  });

  it.each([
    ["https://93.184.215.14/x", "public IPv4"],
    ["https://8.8.8.8:8443/x", "public IPv4 with a port"],
    ["https://[2606:4700:4700::1111]/x", "public IPv6"],
    ["https://[64:ff9b::808:808]/x", "NAT64 of a public address (globally reachable, RFC 6052)"],
    ["https://[2002:808:808::1]/x", "6to4 of a public address"],
    ["https://[::ffff:8.8.8.8]/x", "IPv4-mapped public address"],
  ])("accepts %s (%s)", (url) => {
    expect(webhookUrlProblem(url, strict)).toBeNull();
  });
});

describe("webhookUrlProblem: names", () => {
  it.each([
    ["https://localhost/x", "localhost"],
    ["https://localhost./x", "localhost with the root's dot"],
    ["https://LOCALHOST/x", "upper case"],
    ["https://api.localhost/x", "a name under .localhost"],
    ["https://api.localhost./x", "a name under .localhost, with the root's dot"],
    ["https://ⓛocalhost/x", "a spelling IDNA maps to localhost"],
    ["https://localhost%E3%80%82/x", "an ideographic full stop, mapped to a dot"],
    ["https://printer.local/x", "mDNS"],
    ["https://service.internal/x", ".internal"],
    ["https://router.home.arpa/x", "home.arpa"],
    ["https://1.0.0.127.in-addr.arpa/x", "reverse DNS"],
    ["https://nas.lan/x", ".lan"],
    ["https://db.localdomain/x", ".localdomain"],
    ["https://site.test/x", ".test"],
    ["https://site.example/x", ".example"],
    ["https://x.invalid/x", ".invalid"],
    ["https://abc.onion/x", ".onion"],
    ["https://name.alt/x", ".alt"],
    ["https://intranet/x", "a single label"],
    ["https://metadata/x", "a single label (cloud metadata name)"],
  ])("refuses %s (%s)", (url) => {
    expect(webhookUrlProblem(url, strict)).toBe(NOT_PUBLIC);
  });

  it.each([
    "https://receiver.example.com/hooks",
    "https://hooks.example.org./x",
    "https://localhost.example.com/x",
    "https://xn--mnchen-3ya.de/x",
  ])("accepts %s", (url) => {
    expect(webhookUrlProblem(url, strict)).toBeNull();
  });
});

describe("webhookUrlProblem: loopback in local dev (allowLoopback)", () => {
  it.each([
    "http://127.0.0.1:8787/webhooks/acme/conn_1",
    "http://127.5.6.7/x",
    "http://localhost:8787/x",
    "http://localhost./x",
    "http://app.localhost/x",
    "http://[::1]:8787/x",
    "http://[::ffff:127.0.0.1]/x",
    "http://2130706433/x",
    "https://127.0.0.1/x",
  ])("allows %s only where the deployment allows loopback", (url) => {
    expect(webhookUrlProblem(url, dev)).toBeNull();
    expect(webhookUrlProblem(url, strict)).not.toBeNull();
  });

  it.each([
    ["http://10.0.0.1/x", "must use https"],
    ["https://10.0.0.1/x", PRIVATE],
    ["https://169.254.169.254/x", PRIVATE],
    ["https://[64:ff9b::7f00:1]/x", PRIVATE],
    ["https://[2002:7f00:1::]/x", PRIVATE],
    ["https://[fe80::1]/x", PRIVATE],
    ["https://printer.local/x", NOT_PUBLIC],
    ["ftp://127.0.0.1/x", "must use http or https"],
  ])("still refuses %s: only loopback is relaxed", (url, problem) => {
    expect(webhookUrlProblem(url, dev)).toBe(problem);
  });
});

describe("webhookUrlProblem: spelling (what the document's pattern states)", () => {
  const SPELLING = "must be written as https://host/path, without spaces, control characters or backslashes";
  const documented = new RegExp(HTTPS_URL_SPELLING.source, "u");

  it.each([
    [" https://receiver.example.com/x", "a leading space"],
    ["https://receiver.example.com/x ", "a trailing space"],
    ["ht\ttps://receiver.example.com/x", "a tab inside the scheme"],
    ["https://receiver.example.com/a b", "a space in the path"],
    ["https:\\\\receiver.example.com\\x", "backslashes for slashes"],
    ["https:receiver.example.com/x", "no slashes after the scheme"],
    ["https:/receiver.example.com/x", "one slash after the scheme"],
    ["https://receiver.example.com/\nx", "a newline"],
  ])("refuses %j (%s), which URL parsing would repair", (url) => {
    expect(webhookUrlProblem(url, strict)).toBe(SPELLING);
    expect(documented.test(url)).toBe(false);
  });

  it("refuses the same spellings of a loopback target in local dev", () => {
    expect(webhookUrlProblem(" http://127.0.0.1:8787/x", dev)).toBe(SPELLING);
    expect(webhookUrlProblem("http:127.0.0.1:8787/x", dev)).toBe(SPELLING);
  });

  it.each([
    "https://receiver.example.com/hooks",
    "HTTPS://Receiver.Example.com/hooks?x=1#f",
    "https://8.8.8.8:8443/x",
    "https://[2606:4700:4700::1111]/x",
    "https://xn--mnchen-3ya.de/x",
    "https://münchen.de/x",
  ])("accepts %s, and so does the document's pattern", (url) => {
    expect(webhookUrlProblem(url, strict)).toBeNull();
    expect(documented.test(url)).toBe(true);
  });
});

describe("classifyHost", () => {
  it("tells loopback from other local targets", () => {
    expect(classifyHost("127.0.0.1")).toBe("loopback");
    expect(classifyHost("[::1]")).toBe("loopback");
    expect(classifyHost("localhost")).toBe("loopback");
    expect(classifyHost("10.0.0.1")).toBe("local");
    expect(classifyHost("[64:ff9b::7f00:1]")).toBe("local");
    expect(classifyHost("example.com")).toBe("public");
  });
});
