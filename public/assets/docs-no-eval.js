// Loaded on /docs before the API reference viewer: the zod bundled in the viewer probes whether
// `Function("")` works (a speed-up it can do without). The page's Content-Security-Policy has no
// 'unsafe-eval', so the probe would be refused and reported as a violation; `jitless` skips it.
globalThis.__zod_globalConfig = Object.assign(globalThis.__zod_globalConfig ?? {}, { jitless: true });
