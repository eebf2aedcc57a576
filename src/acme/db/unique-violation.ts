/** Whether a D1 error (or one it wraps) is a UNIQUE or PRIMARY KEY constraint failing. */
export function isUniqueViolation(error: unknown): boolean {
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (/UNIQUE constraint failed/i.test(e.message)) return true;
  }
  return false;
}
