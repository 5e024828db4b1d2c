// Markdown tables from the JSON results; the charts are report_svg.cpp.
#include "report.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "clock.hpp"
#include "report_svg.hpp"

namespace bench {

namespace {

namespace json = boost::json;

struct run_record {
  std::string label, target, mode, transport;
  json::object o;
  double num(const char* k) const {
    auto* v = o.if_contains(k);
    if (!v || v->is_null() || v->is_string())
      return -1;
    return v->to_number<double>();
  }
  std::string str(const char* k) const {
    auto* v = o.if_contains(k);
    return v && v->is_string() ? std::string(v->as_string()) : std::string();
  }
};

std::string target_name(const std::string& t) {
  if (t == "switchboard")
    return "Switchboard";
  if (t == "nchan")
    return "nginx + nchan";
  if (t == "pushpin")
    return "Pushpin";
  return t;
}

std::string transport_name(const std::string& t) {
  return t == "ws" ? "WebSocket" : t == "sse-h2" ? "SSE over HTTP/2" : "SSE";
}

// "C connections × K streams" for a run whose subscribers are HTTP/2 streams; empty otherwise.
std::string streams_text(const run_record& r) {
  if (r.transport != "sse-h2")
    return "";
  double conns = r.num("tcp_connections");
  return fmt("%.0f connection%s × %.0f streams", conns, conns == 1 ? "" : "s",
             r.num("streams_per_conn"));
}

// What a run measured, in words, from its own parameters.
std::string title_of(const run_record& r) {
  long n = static_cast<long>(r.num("connections"));
  std::string t = transport_name(r.transport);
  std::string rate = r.str("rate");
  std::string streams = streams_text(r);
  if (r.mode == "idle" && !streams.empty())
    return fmt("idle: %ld %s streams (%s)", n, t.c_str(), streams.c_str());
  if (r.mode == "idle")
    return fmt("idle: %ld %s connections", n, t.c_str());
  if (r.mode == "fanout" && !streams.empty())
    return fmt("%s fan-out: %ld subscribers (%s), %s, %s publisher, %.0f s", t.c_str(), n,
               streams.c_str(), rate == "max" ? "max rate" : (rate + " msg/s").c_str(),
               r.str("publisher") == "ws" ? "WebSocket" : "HTTP", r.num("duration_s"));
  if (r.mode == "fanout")
    return fmt("%s fan-out: %ld subscribers, %s, %s publisher, %.0f s", t.c_str(), n,
               rate == "max" ? "max rate" : (rate + " msg/s").c_str(),
               r.str("publisher") == "ws" ? "WebSocket" : "HTTP", r.num("duration_s"));
  if (r.mode == "room" && r.num("rooms") > 1)
    return fmt("cursor rooms: %.0f rooms × %ld WebSocket clients, %g %smsg/s each, %.0f s",
               r.num("rooms"), n / static_cast<long>(r.num("rooms")), r.num("rate_per_client"),
               r.num("volatile") > 0 ? "volatile " : "", r.num("duration_s"));
  if (r.mode == "room")
    return fmt("room: %ld WebSocket clients × %g %smsg/s each, %.0f s", n, r.num("rate_per_client"),
               r.num("volatile") > 0 ? "volatile " : "", r.num("duration_s"));
  if (r.mode == "roundtrip")
    return fmt("round trip over %s: %ld clients, %s, %.0f s",
               r.transport == "ws" ? "one WebSocket" : "POST + SSE", n,
               rate == "max" ? "back to back" : ("≤ " + rate + "/s each").c_str(),
               r.num("duration_s"));
  if (r.mode == "source")
    return fmt("generator ceiling: %ld %s connections from a stub sender", n, t.c_str());
  return r.label;
}

struct metric_spec {
  const char* key;
  const char* name;
  const char* format;
};

// The metrics of a run; `streams`: an idle run whose subscribers are HTTP/2 streams.
std::vector<metric_spec> metrics_of(const std::string& mode, bool streams) {
  if (mode == "idle" && streams)
    return {{"rss_bytes_per_conn", "server RSS per stream (after a warm-up), B", "%.0f"},
            {"rss_cold_bytes_per_conn", "server RSS per stream, cold start, B", "%.0f"},
            {"kernel_slab_bytes_per_conn", "kernel slab per stream (both ends), B", "%.0f"}};
  if (mode == "idle")
    return {{"rss_bytes_per_conn", "server RSS per connection (after a warm-up), B", "%.0f"},
            {"rss_cold_bytes_per_conn", "server RSS per connection, cold start, B", "%.0f"},
            {"kernel_slab_bytes_per_conn", "kernel slab per connection (both ends), B", "%.0f"}};
  if (mode == "fanout")
    return {{"server_cpu_us_per_delivery", "server CPU per delivery, µs", "%.3f"},
            {"deliveries_per_s", "deliveries per second", "%.0f"},
            {"delivered_fraction", "delivered, share of expected", "%.4f"},
            {"latency_ms_p50", "latency p50, ms", "%.2f"},
            {"latency_ms_p99", "latency p99, ms", "%.2f"},
            {"server_cpu_pct", "server CPU, % of its core", "%.0f"}};
  if (mode == "room")
    return {{"latency_ms_p50", "latency p50, ms", "%.3f"},
            {"latency_ms_p99", "latency p99, ms", "%.3f"},
            {"delivered_fraction", "delivered, share of expected", "%.4f"},
            {"server_cpu_us_per_delivery", "server CPU per delivery, µs", "%.3f"}};
  if (mode == "roundtrip")
    return {{"latency_ms_p50", "round trip p50, ms", "%.3f"},
            {"latency_ms_p90", "round trip p90, ms", "%.3f"},
            {"latency_ms_p99", "round trip p99, ms", "%.3f"},
            {"latency_ms_p999", "round trip p99.9, ms", "%.3f"},
            {"round_trips_per_s", "round trips per second", "%.0f"},
            {"server_cpu_us_per_delivery", "server CPU per round trip, µs", "%.3f"}};
  if (mode == "source")
    return {{"events_per_s", "events parsed per second", "%.0f"},
            {"generator_cpu_pct", "generator CPU, % of its core", "%.0f"},
            {"events_per_s_per_core", "events per second per generator core", "%.0f"}};
  return {};
}

std::string cell(double v, const char* f) {
  return v < 0 ? "–" : fmt(f, v);
}

}  // namespace

int run_report(int argc, char** argv) {
  std::string md_path, svg_dir = ".", link_prefix;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "--md" || a == "--svg-dir" || a == "--svg-link-prefix") && i + 1 < argc) {
      std::string v = argv[++i];
      (a == "--md" ? md_path : a == "--svg-dir" ? svg_dir : link_prefix) = v;
    } else {
      files.push_back(a);
    }
  }
  if (md_path.empty() || files.empty()) {
    std::fputs(
        "usage: switchboard-bench report --md OUT.md [--svg-dir DIR] [--svg-link-prefix P] "
        "RESULT.json...\n",
        stderr);
    return 2;
  }
  std::vector<run_record> runs;
  for (const auto& f : files) {
    std::ifstream in(f);
    if (!in)
      continue;
    std::stringstream ss;
    ss << in.rdbuf();
    boost::system::error_code ec;
    json::value v = json::parse(ss.str(), ec);
    if (ec || !v.is_object()) {
      std::fprintf(stderr, "report: %s: not a JSON object, skipped\n", f.c_str());
      continue;
    }
    run_record r;
    r.o = v.as_object();
    r.label = r.str("label");
    r.target = r.str("target");
    r.mode = r.str("mode");
    r.transport = r.str("transport");
    runs.push_back(std::move(r));
  }
  // Targets in a fixed order (Switchboard first), labels in the order first seen.
  std::vector<std::string> targets, labels;
  for (const auto& r : runs) {
    if (std::find(targets.begin(), targets.end(), r.target) == targets.end())
      targets.push_back(r.target);
    if (std::find(labels.begin(), labels.end(), r.label) == labels.end())
      labels.push_back(r.label);
  }
  std::stable_sort(targets.begin(), targets.end(), [](const std::string& a, const std::string& b) {
    return (a == "switchboard") > (b == "switchboard");
  });
  auto find = [&](const std::string& label, const std::string& target) -> const run_record* {
    for (const auto& r : runs)
      if (r.label == label && r.target == target)
        return &r;
    return nullptr;
  };
  bool ratio = targets.size() >= 2 && targets[0] == "switchboard";

  std::string md;
  md += "| workload | metric |";
  for (const auto& t : targets)
    md += " " + target_name(t) + " |";
  if (ratio)
    md += " ratio " + target_name(targets[0]) + " / " + target_name(targets[1]) + " |";
  md += "\n| --- | --- |";
  for (size_t i = 0; i < targets.size() + (ratio ? 1 : 0); ++i)
    md += " ---: |";
  md += "\n";
  for (const auto& label : labels) {
    const run_record* any = nullptr;
    for (const auto& t : targets)
      if (!any)
        any = find(label, t);
    if (!any)
      continue;
    for (const auto& m : metrics_of(any->mode, any->transport == "sse-h2")) {
      md += "| " + title_of(*any) + " | " + m.name + " |";
      std::vector<double> vals;
      for (const auto& t : targets) {
        const run_record* r = find(label, t);
        double v = r ? r->num(m.key) : -1;
        vals.push_back(v);
        md += " " + cell(v, m.format) + " |";
      }
      if (ratio)
        md +=
            vals[0] >= 0 && vals[1] > 0 ? fmt(" %.2f× |", vals[0] / vals[1]) : std::string(" – |");
      md += "\n";
    }
  }

  // Charts: latency percentiles of every run that has them; memory per idle connection; server
  // CPU per delivery.
  std::vector<dot_row> lat;
  std::vector<bar_row> mem, cpu;
  for (const auto& label : labels) {
    for (const auto& t : targets) {
      const run_record* r = find(label, t);
      if (!r)
        continue;
      std::string name = title_of(*r) + " — " + target_name(t);
      if (r->mode == "idle") {
        mem.push_back({transport_name(r->transport) + (r->transport == "sse-h2" ? " stream" : "") +
                           " — " + target_name(t),
                       r->num("rss_bytes_per_conn"), t});
      } else if (r->mode == "fanout" || r->mode == "room" || r->mode == "roundtrip") {
        // Closed-loop fan-out latency is queueing by construction: not charted.
        bool closed_loop = r->mode == "fanout" && r->str("rate") == "max";
        if (r->num("latency_samples") > 0 && !closed_loop)
          lat.push_back(
              {name,
               {r->num("latency_ms_p50"), r->num("latency_ms_p90"), r->num("latency_ms_p99"),
                r->num("latency_ms_p999"), r->num("latency_ms_max")},
               t});
        if (r->num("server_cpu_us_per_delivery") > 0)
          cpu.push_back(
              {title_of(*r) + " — " + target_name(t), r->num("server_cpu_us_per_delivery"), t});
      }
    }
  }
  struct chart_spec {
    std::string file, alt, svg;
  };
  std::vector<chart_spec> charts;
  if (!lat.empty())
    charts.push_back({"benchmarks-latency.svg", "latency percentiles per workload and server",
                      dot_chart("Latency percentiles (ms, log scale; lower is better)", lat)});
  if (!mem.empty())
    charts.push_back(
        {"benchmarks-memory.svg", "server memory per idle connection",
         bar_chart("Server RSS per idle connection (bytes; lower is better)", "B", mem)});
  if (!cpu.empty())
    charts.push_back({"benchmarks-cpu.svg", "server CPU per delivery",
                      bar_chart("Server CPU per delivery (µs; lower is better)", "µs", cpu)});
  md += "\n";
  for (const auto& c : charts) {
    std::string path = svg_dir + "/" + c.file;
    std::ofstream out(path);
    out << c.svg;
    if (!out) {
      std::fprintf(stderr, "report: cannot write %s\n", path.c_str());
      return 2;
    }
    md += "![" + c.alt + "](" + link_prefix + c.file + ")\n\n";
  }
  std::ofstream out(md_path);
  out << md;
  return out ? 0 : 2;
}

}  // namespace bench
