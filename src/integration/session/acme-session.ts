import { DurableObject } from "cloudflare:workers";

export class AcmeSession extends DurableObject<Env> {}
