// The /metrics text: histograms cumulative over buckets and summed over loops, labelled families.
#include "server/metrics.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sb::server {
namespace {

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}

TEST(Metrics, HistogramsAreCumulativeAndSummedOverLoops) {
  loop_counters a;
  loop_counters b;
  a.delivery_lag.observe_ns(100'000);         // 0.1 ms: the first bucket
  b.delivery_lag.observe_ns(3'000'000);       // 3 ms: le 0.005
  b.delivery_lag.observe_ns(20'000'000'000);  // 20 s: +Inf only
  a.delivery_lag.observe_since(0, 5);         // an unknown start is not observed
  std::vector<const loop_counters*> loops{&a, &b};
  std::vector<std::size_t> open{0, 0};
  auto text = render_metrics({loops, open});
  EXPECT_TRUE(has_line(text, "# TYPE switchboard_delivery_lag_seconds histogram"));
  EXPECT_TRUE(has_line(text, R"(switchboard_delivery_lag_seconds_bucket{le="0.0005"} 1)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_delivery_lag_seconds_bucket{le="0.0025"} 1)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_delivery_lag_seconds_bucket{le="0.005"} 2)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_delivery_lag_seconds_bucket{le="10"} 2)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_delivery_lag_seconds_bucket{le="+Inf"} 3)"));
  EXPECT_TRUE(has_line(text, "switchboard_delivery_lag_seconds_count 3"));
  EXPECT_TRUE(has_line(text, "switchboard_delivery_lag_seconds_sum 20.0031"));
}

TEST(Metrics, LabelledCountersByTransportCodeAndReason) {
  loop_counters a;
  a.sse.deliveries.add(3);
  a.ws.deliveries.add(2);
  a.ws.end(end_reason::slow_consumer);
  a.response(503);
  a.response(503);
  std::vector<const loop_counters*> loops{&a};
  std::vector<std::size_t> open{7};
  auto text = render_metrics({loops, open});
  EXPECT_TRUE(has_line(text, R"(switchboard_deliveries_total{transport="sse"} 3)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_deliveries_total{transport="ws"} 2)"));
  EXPECT_TRUE(has_line(
      text, R"(switchboard_streams_ended_total{transport="ws",reason="slow_consumer"} 1)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_http_responses_total{code="200"} 0)"));
  EXPECT_TRUE(has_line(text, R"(switchboard_http_responses_total{code="503"} 2)"));
  EXPECT_EQ(text.find(R"(code="404")"), std::string::npos);  // never sent: not listed
  EXPECT_TRUE(has_line(text, "switchboard_connections 7"));
  EXPECT_TRUE(has_line(text, "switchboard_ready 1"));
}

}  // namespace
}  // namespace sb::server
