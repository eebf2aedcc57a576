/**
 * An import's checkpoint: the first row not yet done, and rows beyond it already done (a row
 * that had to wait for quota while later rows of its wave went through). Written "12" or "12:14,15".
 */
export interface ImportCheckpoint {
  next: number;
  doneBeyond: Set<number>;
}

/** Reads a checkpoint as stored on the job; null (nothing done yet) starts at row 1. */
export function readImportCheckpoint(text: string | null): ImportCheckpoint {
  if (text === null) return { next: 1, doneBeyond: new Set() };
  const [next, beyond] = text.split(":");
  return { next: Number(next), doneBeyond: new Set(beyond ? beyond.split(",").map(Number) : []) };
}

/** The stored form of a checkpoint: `"12"`, or `"12:14,15"` with the rows done beyond in order. */
export function writeImportCheckpoint(checkpoint: ImportCheckpoint): string {
  const beyond = [...checkpoint.doneBeyond].sort((a, b) => a - b);
  return beyond.length > 0 ? `${checkpoint.next}:${beyond.join(",")}` : String(checkpoint.next);
}
