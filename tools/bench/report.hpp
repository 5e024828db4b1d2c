// The report writers: from the JSON results of many runs, a Markdown table (Switchboard and the
// other targets side by side, with ratios) and SVG charts (latency percentiles per transport and
// target, memory per connection, server CPU per delivery).
//
//   switchboard-bench report --md OUT.md --svg-dir DIR [--svg-link-prefix P] RESULT.json...
//
// Each result file is one run's JSON (--json); runs are matched across targets by their --label
// ("sse-fanout-max" for every target). The Markdown file holds the tables and the image links
// only; tools/bench/run.sh puts it into docs/benchmarks.md.
#pragma once

namespace bench {

int run_report(int argc, char** argv);

}  // namespace bench
