import { type ChildProcess, spawn } from "node:child_process";

/** The longest a burner process runs, ms: it stops by itself even if the bench never stops it. */
const MAX_BURN_MS = 60 * 60_000;

/** Busy processes beside the server, so the bench measures a loaded machine. */
export interface CpuBurner {
  count: number;
  /** Stops every burner process (at once; each also stops by itself after an hour). */
  stop(): void;
}

/**
 * Starts `count` processes that spin on the CPU (`BENCH_CPU_BURNER=<count>`), each bounded in
 * time, so the rate budget is measured on a machine as busy as CI beside other work. 0 starts none.
 */
export function startCpuBurner(count: number): CpuBurner {
  const children: ChildProcess[] = [];
  for (let i = 0; i < count; i++) {
    children.push(
      spawn(
        process.execPath,
        ["-e", `const end = Date.now() + ${MAX_BURN_MS}; while (Date.now() < end) {}`],
        {
          stdio: "ignore",
        },
      ),
    );
  }
  return {
    count,
    stop() {
      for (const child of children) child.kill("SIGKILL");
    },
  };
}
