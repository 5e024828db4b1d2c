#pragma once
// The reconnect delay each SSE stream is told (`retry:`), spread per stream so that clients cut
// off together (a crash, a restart, a drain) do not all come back in the same instant.
#include <cstdint>

namespace sb::sse {

/// `retry_ms` stretched by `u` in [0, 1): retry_ms + floor(retry_ms × u), so the result lies in
/// [retry_ms, 2 × retry_ms) and is spread uniformly when `u` is. Pure, for tests.
unsigned jittered_retry(unsigned retry_ms, double u);

/// As above with `u` drawn from this thread's generator.
unsigned jittered_retry(unsigned retry_ms);

}  // namespace sb::sse
