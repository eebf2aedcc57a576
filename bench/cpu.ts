// CPU time of the server under test, read from Linux's /proc: wrangler dev and the workerd it
// runs share one process group, so their user + system time is the server's cost.
import { spawnSync } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";

const TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).stdout.trim()) || 100;

/**
 * User + system CPU time (ms) used so far by every live process of `processGroup`, children
 * already reaped included (`cutime`, `cstime`). Fields per proc(5): after the command name in
 * parentheses, pgrp is the 3rd, utime the 12th, stime the 13th, cutime and cstime the 14th and 15th.
 * Throws if /proc cannot be read (not Linux).
 */
export function processGroupCpuMs(processGroup: number): number {
  let ticks = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, "utf8");
    } catch {
      continue; // the process ended meanwhile
    }
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    if (Number(fields[2]) !== processGroup) continue;
    ticks += [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i] ?? 0), 0);
  }
  return (ticks * 1000) / TICKS_PER_SECOND;
}
