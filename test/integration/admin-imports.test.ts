import { env, SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { uniqueEmail } from "../acme/helpers.ts";
import { admin, BASE, expectProblem, newConnection, untilJob } from "./helpers.ts";

/** The operator's import for a connection: the admin token, a CSV body. */
function adminImport(connectionId: string, body: string, token: string | null = env.ADMIN_TOKEN) {
  const headers: Record<string, string> = { "content-type": "text/csv" };
  if (token) headers.authorization = `Bearer ${token}`;
  return SELF.fetch(`${BASE}/api/v1/admin/connections/${connectionId}/imports`, {
    method: "POST",
    headers,
    body,
  });
}

describe("operator imports and cancels (admin token)", () => {
  it("imports a CSV for a connection and reports the job like the API-key route", async () => {
    const connection = await newConnection();
    const res = await adminImport(
      connection.connectionId,
      `firstName,lastName,email\nAda,L,${uniqueEmail("adm")}\n`,
    );
    expect(res.status).toBe(202);
    const job = await res.json<{ id: string; kind: string }>();
    expect(res.headers.get("location")).toBe(`/api/v1/jobs/${job.id}`);
    expect(job.kind).toBe("import");
    expect((await untilJob(connection.apiKey, job.id)).status).toBe("succeeded");
    const again = await admin(`/connections/${connection.connectionId}/jobs/${job.id}/cancel`, {
      method: "POST",
    });
    await expectProblem(again, 409, "conflict");
  });

  it("refuses without the admin token, with an API key, for an unknown connection or job, and a wrong media type", async () => {
    const connection = await newConnection();
    const csv = `firstName,lastName,email\nAda,L,${uniqueEmail("adm")}\n`;
    await expectProblem(await adminImport(connection.connectionId, csv, null), 401, "unauthorized");
    await expectProblem(
      await adminImport(connection.connectionId, csv, connection.apiKey),
      401,
      "unauthorized",
    );
    await expectProblem(await adminImport("conn_missing", csv), 404, "not_found");
    const typed = await SELF.fetch(`${BASE}/api/v1/admin/connections/${connection.connectionId}/imports`, {
      method: "POST",
      headers: { authorization: `Bearer ${env.ADMIN_TOKEN}`, "content-type": "text/plain" },
      body: csv,
    });
    await expectProblem(typed, 415, "unsupported_media_type");
    const cancel = await admin(`/connections/${connection.connectionId}/jobs/job_missing/cancel`, {
      method: "POST",
    });
    await expectProblem(cancel, 404, "not_found");
    const noToken = await admin(`/connections/${connection.connectionId}/jobs/job_missing/cancel`, {
      method: "POST",
      token: null,
    });
    await expectProblem(noToken, 401, "unauthorized");
  });
});
