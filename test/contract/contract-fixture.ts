import { env, SELF } from "cloudflare:test";
import { createClient, tokenFor } from "../acme/helpers.ts";
import { defineProperties } from "../integration/custom-field-helpers.ts";
import { admin, createContact, newConnection, type TestConnection } from "../integration/helpers.ts";
import type { DocumentedOperation } from "./served-operations.ts";

const ORIGIN = "http://bridge.test";

/** The real resources a request's path can name, made once and remade after a DELETE took them. */
export class ContractFixture {
  integration!: TestConnection;
  acmeContactsToken!: string;
  /** A separate, quiet Acme account for webhook subscriptions: no contact changes, so no deliveries. */
  acmeWebhooksToken!: string;
  spareAcmeClientId!: string;
  tokenClientCredentials!: { client_id: string; client_secret: string };
  private cache = new Map<string, string>();

  async setUp() {
    this.integration = await newConnection();
    // The Acme properties the field-mapping examples name, so the examples map real ones.
    await defineProperties(this.integration, [
      {
        name: "contract_tier",
        label: "Contract tier",
        type: "enumeration",
        options: ["bronze", "silver", "gold"],
      },
      { name: "renewal_date", label: "Renewal date", type: "date" },
    ]);
    const contactsClient = await createClient();
    this.acmeContactsToken = await tokenFor(contactsClient);
    this.acmeWebhooksToken = await tokenFor(await createClient());
    this.spareAcmeClientId = (await createClient()).clientId;
    const tokenClient = await createClient();
    this.tokenClientCredentials = {
      client_id: tokenClient.clientId,
      client_secret: tokenClient.clientSecret,
    };
  }

  /** The Authorization header an operation's security scheme asks for, or none. */
  credentials(op: DocumentedOperation): string | undefined {
    const scheme = Object.keys(op.operation.security?.[0] ?? {})[0];
    if (scheme === "ApiKey") return this.integration.apiKey;
    if (scheme === "AdminToken") return op.system === "acme" ? env.ACME_ADMIN_TOKEN : env.ADMIN_TOKEN;
    if (scheme === "AcmeOAuth") {
      return op.template.startsWith("/acme/v1/webhooks") ? this.acmeWebhooksToken : this.acmeContactsToken;
    }
    return undefined;
  }

  /** A real id for a path parameter, or null where only unknown ids make sense. */
  async id(op: DocumentedOperation, name: string): Promise<string | null> {
    const key = `${op.template}:${name}`;
    const kept = this.cache.get(key);
    if (kept) return kept;
    const made = await this.make(op, name);
    if (made) this.cache.set(key, made);
    return made;
  }

  /** After a successful DELETE, the resource is gone: make another for the next case. */
  forget(op: DocumentedOperation) {
    for (const key of this.cache.keys()) if (key.startsWith(`${op.template}:`)) this.cache.delete(key);
  }

  private async make(op: DocumentedOperation, name: string): Promise<string | null> {
    const t = op.template;
    if (/^\/api(\/v1)?\/contacts\/\{id\}$/.test(t)) return (await createContact(this.integration.apiKey)).id;
    if (t.startsWith("/api/v1/admin/connections/{id}") || name === "connectionId") {
      return this.integration.connectionId;
    }
    if (t === "/api/v1/admin/api-keys/{id}") {
      const res = await admin(`/connections/${this.integration.connectionId}/api-keys`, { method: "POST" });
      return (await res.json<{ id: string }>()).id;
    }
    if (t === "/acme/v1/contacts/{id}") {
      const res = await SELF.fetch(`${ORIGIN}/acme/v1/contacts`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.acmeContactsToken}`, "content-type": "application/json" },
        body: JSON.stringify({ acme_email: `fuzz.${crypto.randomUUID()}@example.com` }),
      });
      return (await res.json<{ id: string }>()).id;
    }
    if (t === "/acme/v1/properties/{name}") {
      const property = `fuzz_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
      const res = await SELF.fetch(`${ORIGIN}/acme/v1/properties`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.acmeContactsToken}`, "content-type": "application/json" },
        body: JSON.stringify({ name: property, label: "Fuzz", type: "string" }),
      });
      return (await res.json<{ name: string }>()).name;
    }
    if (t.startsWith("/acme/v1/webhooks/{id}") && name === "id") {
      const res = await SELF.fetch(`${ORIGIN}/acme/v1/webhooks`, {
        method: "POST",
        headers: { authorization: `Bearer ${this.acmeWebhooksToken}`, "content-type": "application/json" },
        body: JSON.stringify({ url: "https://hooks.example.com/acme", events: ["contact.created"] }),
      });
      return (await res.json<{ id: string }>()).id;
    }
    if (t === "/acme/admin/clients/{id}/rate-limits") return this.spareAcmeClientId;
    return null;
  }
}

/** Turns the mock Acme's fault injection off: it is global to the worker, and other files expect it off. */
export async function disableAcmeFaults(): Promise<void> {
  await SELF.fetch(`${ORIGIN}/acme/admin/faults`, {
    method: "PUT",
    headers: { authorization: `Bearer ${env.ACME_ADMIN_TOKEN}`, "content-type": "application/json" },
    body: JSON.stringify({ enabled: false }),
  });
}
