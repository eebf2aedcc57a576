import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      ACME_MIGRATIONS: D1Migration[];
      DB_MIGRATIONS: D1Migration[];
    }
  }
}
