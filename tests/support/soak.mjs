// The reliability suite runs each probe twice over: a quick version inside `make test`, and a long
// one under `make soak` (SWITCHBOARD_SOAK=1). A probe names both sizes once, here-style:
//   const cycles = soak(2_000, 160_000);
export const SOAKING = process.env.SWITCHBOARD_SOAK === '1';

/** The quick figure in `make test`, the long one under `make soak`. */
export function soak(quick, long) {
  return SOAKING ? long : quick;
}

/** A node:test timeout that fits the chosen size (ms). */
export function soakTimeout(quickMs, longMs) {
  return SOAKING ? longMs : quickMs;
}
