// SVG charts for the report, written by hand (a few rectangles, circles and text; no plotting
// library is packaged for C++): horizontal rows, one per (workload, server), coloured by server.
#pragma once

#include <array>
#include <string>
#include <vector>

namespace bench {

// One row of a percentile chart: p50, p90, p99, p99.9, max in ms.
struct dot_row {
  std::string label;
  std::array<double, 5> ms;
  std::string target;
};

struct bar_row {
  std::string label;
  double value;
  std::string target;
};

// Percentiles as dots on a log-scale axis, a line from p50 to max.
std::string dot_chart(const std::string& title, const std::vector<dot_row>& rows);
// One bar per row on a linear axis, value printed at its end.
std::string bar_chart(const std::string& title, const std::string& unit,
                      const std::vector<bar_row>& rows);

}  // namespace bench
