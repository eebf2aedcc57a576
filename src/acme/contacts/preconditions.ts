import {
  type EntityTagCondition,
  evaluatePreconditions,
  parseEntityTagCondition,
  versionTag,
} from "../../lib/etag.ts";
import { AcmeError } from "../errors.ts";

/** A request's method and conditional fields (RFC 9110 13.1.1, 13.1.2), parsed; null where absent. */
export interface Preconditions {
  method: string;
  ifMatch: EntityTagCondition | null;
  ifNoneMatch: EntityTagCondition | null;
}

function parseField(name: string, value: string | undefined): EntityTagCondition | null {
  const condition = parseEntityTagCondition(value);
  if (condition !== "malformed") return condition;
  throw new AcmeError("precondition_invalid", `${name} must be "*" or a list of entity tags like "3".`, {
    details: [{ field: name, message: 'must be "*" or a list of entity tags such as "3", W/"3"' }],
  });
}

/** Reads `If-Match` and `If-None-Match`; a malformed one is 400 `precondition_invalid` naming it. */
export function readPreconditions(
  method: string,
  headers: { "if-match"?: string | undefined; "if-none-match"?: string | undefined },
): Preconditions {
  return {
    method,
    ifMatch: parseField("If-Match", headers["if-match"]),
    ifNoneMatch: parseField("If-None-Match", headers["if-none-match"]),
  };
}

/** 412 `version_mismatch`; `current` is named when known (not after a concurrent change). */
export function versionMismatch(current?: number): AcmeError {
  return new AcmeError(
    "version_mismatch",
    current === undefined
      ? "The contact changed concurrently; read it again."
      : `The precondition (If-Match or If-None-Match) does not hold for the current version (${current}).`,
  );
}

/**
 * RFC 9110 13.2.2 against a contact's current version, after its 404 and before anything else:
 * throws 412 `version_mismatch`; "not_modified" tells a GET or HEAD to answer 304.
 */
export function checkPreconditions(
  preconditions: Preconditions,
  version: number,
): "proceed" | "not_modified" {
  const outcome = evaluatePreconditions(preconditions, versionTag(version), preconditions.method);
  if (outcome === "precondition_failed") throw versionMismatch(version);
  return outcome;
}
