#include "server/admin_stats.hpp"

#include <algorithm>
#include <boost/json.hpp>
#include <cmath>
#include <unordered_map>

namespace sb::server {
namespace {

using entry = std::pair<std::string, std::size_t>;

/// The `top` largest counts, largest first, ties by name; the server's own topics left out.
std::vector<entry> largest(const std::vector<entry>& all, std::size_t top) {
  std::vector<entry> out;
  for (const auto& e : all) {
    if (!e.first.starts_with('$') && e.second > 0) {
      out.push_back(e);
    }
  }
  auto before = [](const entry& a, const entry& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  };
  auto keep = std::min(top, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(),
                    before);
  out.resize(keep);
  return out;
}

/// Per second, rounded to a whole number (JSON integers: a reader never sees 1E0).
std::uint64_t rate(std::uint64_t now, std::uint64_t before, double seconds) {
  return seconds > 0 && now >= before
             ? static_cast<std::uint64_t>(std::llround(static_cast<double>(now - before) / seconds))
             : 0;
}

}  // namespace

std::string render_admin_stats(const stats_sample& now, const stats_sample* before,
                               std::string_view version, std::string_view revision,
                               std::size_t top) {
  namespace json = boost::json;
  json::object o;
  o["version"] = version;
  o["revision"] = revision;
  o["uptime_s"] = static_cast<std::uint64_t>(now.uptime_s);
  o["time"] = now.time_ms;
  auto h2_sse = std::min(now.sse_h2_streams, now.sse_streams);
  o["connections"] = json::object{{"total", now.connections},
                                  {"sse_h1", now.sse_streams - h2_sse},
                                  {"sse_h2", h2_sse},
                                  {"websocket", now.ws_sessions},
                                  {"h2", now.h2_connections}};
  double seconds = before ? now.uptime_s - before->uptime_s : 0;
  o["rates"] = json::object{
      {"publishes_per_s", before ? rate(now.published, before->published, seconds) : 0},
      {"deliveries_per_s", before ? rate(now.deliveries, before->deliveries, seconds) : 0}};
  o["totals"] = json::object{{"published", now.published},
                             {"deliveries", now.deliveries},
                             {"slow_consumer_closes", now.slow_consumer_closes},
                             {"gaps", now.gaps},
                             {"drops", now.drops},
                             {"http_requests", now.http_requests}};
  std::unordered_map<std::string_view, std::size_t> members;
  std::size_t total_members = 0;
  for (const auto& [topic, n] : now.rooms) {
    members[topic] = n;
    total_members += n;
  }
  json::array busiest;
  for (const auto& [topic, n] : largest(now.subscribers, top)) {
    auto it = members.find(topic);
    busiest.push_back(json::object{
        {"topic", topic}, {"subscribers", n}, {"presence", it == members.end() ? 0 : it->second}});
  }
  o["topics"] = json::object{{"count", now.topics}, {"busiest", std::move(busiest)}};
  json::array rooms;
  for (const auto& [topic, n] : largest(now.rooms, top)) {
    rooms.push_back(json::object{{"topic", topic}, {"members", n}});
  }
  o["presence"] = json::object{
      {"rooms", now.rooms.size()}, {"members", total_members}, {"largest", std::move(rooms)}};
  o["history"] = json::object{{"messages", now.history_messages}, {"bytes", now.history_bytes}};
  return json::serialize(o);
}

}  // namespace sb::server
