import { and, desc, isNull, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import type { Context } from "hono";
import { deadLetters } from "../db/schema.ts";
import { problemDetail } from "./admin-api.ts";
import { type ConsoleEnv, createConsoleRouter } from "./context.ts";
import { ConsoleError } from "./errors.tsx";
import { ActionButton, NextPageLink, type Notice, Page, ScrollTable, Time } from "./layout.tsx";
import { keysetPage } from "./paging.ts";

/** Dead letters shown to a page, newest first. */
export const DEAD_LETTERS_PAGE_SIZE = 50;

async function listDeadLetters(env: Env, before: string | undefined, pendingOnly: boolean) {
  const rows = await drizzle(env.DB)
    .select()
    .from(deadLetters)
    .where(
      and(
        before ? lt(deadLetters.id, before) : undefined,
        pendingOnly ? isNull(deadLetters.replayedAt) : undefined,
      ),
    )
    .orderBy(desc(deadLetters.id))
    .limit(DEAD_LETTERS_PAGE_SIZE + 1);
  const page = keysetPage(rows, DEAD_LETTERS_PAGE_SIZE, (row) => row.id);
  return { data: page.data, nextBefore: page.next };
}

async function deadLettersPage(c: Context<ConsoleEnv>, notice?: Notice) {
  const before = c.req.query("before") || undefined;
  const pendingOnly = c.req.query("pending") === "true";
  const { data, nextBefore } = await listDeadLetters(c.env, before, pendingOnly);
  return c.html(
    <Page title="Dead letters" operator={c.var.operator} path={c.req.path} notice={notice}>
      <p>
        Inbox messages that could not be applied. Fix the cause, then replay: the message goes back on the
        inbox queue and is applied (or lands here again, with its reason).
      </p>
      <p>
        {pendingOnly ? (
          <a href="/console/dead-letters">Show all</a>
        ) : (
          <a href="/console/dead-letters?pending=true">Show only those not replayed</a>
        )}
      </p>
      {data.length === 0 ? (
        <p>No dead letters.</p>
      ) : (
        <ScrollTable label="Dead letters">
          <thead>
            <tr>
              <th scope="col">Received</th>
              <th scope="col">Reason</th>
              <th scope="col">Connection</th>
              <th scope="col">Webhook id</th>
              <th scope="col">Message</th>
              <th scope="col">Replayed</th>
            </tr>
          </thead>
          <tbody>
            {data.map((d) => (
              <tr data-dead-letter-id={d.id} data-webhook-id={d.webhookId ?? ""}>
                <td>
                  <Time iso={d.receivedAt} />
                  <br />
                  <code class="muted">{d.id}</code>
                </td>
                <td>{d.reason}</td>
                <td>
                  {d.connectionId ? (
                    <a href={`/console/connections/${d.connectionId}`}>{d.connectionId}</a>
                  ) : (
                    "unknown"
                  )}
                </td>
                <td>
                  <code>{d.webhookId ?? "none"}</code>
                </td>
                <td>
                  <details>
                    <summary>Body</summary>
                    <pre>{d.body}</pre>
                  </details>
                </td>
                <td>
                  {d.replayedAt ? <Time iso={d.replayedAt} /> : <span class="muted">not yet</span>}
                  <ActionButton
                    operator={c.var.operator}
                    action={`/console/dead-letters/${d.id}/replay`}
                    label={d.replayedAt ? "Replay again" : "Replay"}
                    name={`${d.replayedAt ? "Replay again" : "Replay"} dead letter ${d.id}`}
                  />
                </td>
              </tr>
            ))}
          </tbody>
        </ScrollTable>
      )}
      <NextPageLink
        href={
          nextBefore &&
          `/console/dead-letters?before=${encodeURIComponent(nextBefore)}${pendingOnly ? "&pending=true" : ""}`
        }
        label="Older dead letters"
      />
    </Page>,
  );
}

/** Dead letters of the inbox, with replay (through the admin API's replay). */
export const deadLetterRouter = createConsoleRouter()
  .get("/", (c) => {
    const replayed = c.req.query("replayed");
    return deadLettersPage(
      c,
      replayed ? { kind: "status", text: `Dead letter ${replayed} queued again.` } : undefined,
    );
  })
  .post("/:id/replay", async (c) => {
    const id = c.req.param("id");
    const replay = await c.var.adminApi(
      "POST",
      `/api/v1/admin/dead-letters/${encodeURIComponent(id)}/replay`,
    );
    if (replay.status === 404) throw new ConsoleError(404, "There is no such dead letter.");
    if (replay.status === 409) throw new ConsoleError(409, problemDetail(replay.body));
    if (replay.status !== 202)
      throw new ConsoleError(502, `The replay failed: ${problemDetail(replay.body)}`);
    return c.redirect(`/console/dead-letters?replayed=${encodeURIComponent(id)}`, 303);
  });
