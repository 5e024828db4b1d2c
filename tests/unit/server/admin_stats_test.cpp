#include "server/admin_stats.hpp"

#include <gtest/gtest.h>

#include <boost/json.hpp>

namespace sb::server {
namespace {

namespace json = boost::json;

stats_sample sample(double uptime, std::uint64_t published, std::uint64_t deliveries) {
  stats_sample s;
  s.uptime_s = uptime;
  s.time_ms = 1'800'000'000'000;
  s.connections = 9;
  s.sse_streams = 5;
  s.sse_h2_streams = 2;
  s.ws_sessions = 3;
  s.h2_connections = 1;
  s.published = published;
  s.deliveries = deliveries;
  s.gaps = 4;
  s.topics = 7;
  return s;
}

TEST(AdminStats, RendersEveryFigureAndRatesFromTwoSamples) {
  auto before = sample(10.0, 100, 1000);
  auto now = sample(12.0, 140, 1600);
  now.subscribers = {{"b", 2}, {"a", 2}, {"$admin/stats", 50}, {"c", 9}, {"idle", 0}};
  now.rooms = {{"a", 3}, {"r", 1}};
  auto o = json::parse(render_admin_stats(now, &before, "1.2.3", "abc", 2)).as_object();
  EXPECT_EQ(o["version"], "1.2.3");
  EXPECT_EQ(o["revision"], "abc");
  EXPECT_EQ(o["uptime_s"], 12);
  EXPECT_EQ(o["connections"],
            json::parse(R"({"total":9,"sse_h1":3,"sse_h2":2,"websocket":3,"h2":1})"));
  EXPECT_EQ(o["rates"], json::parse(R"({"publishes_per_s":20,"deliveries_per_s":300})"));
  EXPECT_EQ(o["totals"].at("gaps"), 4);
  // The largest first, ties by name, the server's own topics and empty ones left out, at most 2.
  EXPECT_EQ(o["topics"],
            json::parse(R"({"count":7,"busiest":[{"topic":"c","subscribers":9,"presence":0},
                                                              {"topic":"a","subscribers":2,"presence":3}]})"));
  EXPECT_EQ(o["presence"],
            json::parse(R"({"rooms":2,"members":4,"largest":[{"topic":"a","members":3},
                                                                            {"topic":"r","members":1}]})"));
}

TEST(AdminStats, NoRatesWithoutAnEarlierSample) {
  auto o = json::parse(render_admin_stats(sample(1, 5, 5), nullptr, "v", "r")).as_object();
  EXPECT_EQ(o["rates"], json::parse(R"({"publishes_per_s":0,"deliveries_per_s":0})"));
  EXPECT_EQ(o["topics"].at("busiest"), json::array());
}

}  // namespace
}  // namespace sb::server
