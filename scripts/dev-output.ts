// The local start scripts' screen: wrangler's start-up output and the seed's requests are held
// back and printed before the banner, so the banner (with the console's URL) is the last thing on
// screen once it is ready; after it, lines are printed as they come.

// Wrangler's own line per request repeats the Worker's (which says more): only the Worker's is shown.
const WRANGLER_REQUEST_LINE = /^\[wrangler:info\] (GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) \S+ \d{3}\b/;
// Wrangler prints its binding table again once its proxy connects: the second copy is skipped.
const BINDINGS_HEADING = "Your Worker has access to the following bindings:";

type Stream = "stdout" | "stderr";

/** Wrangler's output of one or more `wrangler dev` processes, held back until `goLive`. */
export class DevOutput {
  private held: { line: string; stream: Stream }[] = [];
  private live = false;
  private lastLineAt = Date.now();

  /** A line sink for one wrangler process; `prefix` (e.g. "[acme] ") tells processes apart. */
  sink(prefix = ""): (line: string, stream: Stream) => void {
    let bindingsShown = false;
    let skippingRepeat = false;
    return (line, stream) => {
      this.lastLineAt = Date.now();
      if (WRANGLER_REQUEST_LINE.test(line)) return;
      if (line === BINDINGS_HEADING) {
        skippingRepeat = bindingsShown;
        bindingsShown = true;
      }
      if (skippingRepeat) {
        if (line.trim() === "") skippingRepeat = false;
        return;
      }
      this.print(`${line.trim() === "" ? "" : prefix}${line}`, stream);
    };
  }

  /** Resolves once nothing was printed for `quietMs` (the seed's queue work is logged), or after `maxMs`. */
  async settled(quietMs = 400, maxMs = 3000): Promise<void> {
    const until = Date.now() + maxMs;
    while (Date.now() - this.lastLineAt < quietMs && Date.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Prints what was held back (also on failure, to show why). */
  printHeld(): void {
    for (const { line, stream } of this.held.splice(0)) write(line, stream);
  }

  /** Prints what was held, then `banner`; later lines are printed as they come. */
  goLive(banner: string): void {
    this.printHeld();
    console.log(banner);
    this.live = true;
  }

  private print(line: string, stream: Stream): void {
    if (this.live) write(line, stream);
    else this.held.push({ line, stream });
  }
}

function write(line: string, stream: Stream): void {
  if (stream === "stderr") console.error(line);
  else console.log(line);
}
