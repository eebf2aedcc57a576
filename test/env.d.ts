import type { D1Migration } from "cloudflare:test";

declare global {
  namespace Cloudflare {
    interface Env {
      ACME_MIGRATIONS: D1Migration[];
      DB_MIGRATIONS: D1Migration[];
      /** Seed of the contract fuzz (test/contract/fuzz.test.ts); empty: its fixed default. */
      CONTRACT_FUZZ_SEED: string;
      /** Seed of the random bad-input run (test/contract/bad-input.test.ts); empty: its fixed default. */
      BAD_INPUT_SEED: string;
    }
  }
}
