/**
 * The connection's AcmeSession Durable Object (one per connection id, shared by the fleet), as
 * a stub for the current request; a stub cannot be kept across requests.
 */
export function acmeSessionStub(env: Env, connectionId: string) {
  return env.ACME_SESSION.get(env.ACME_SESSION.idFromName(connectionId));
}
