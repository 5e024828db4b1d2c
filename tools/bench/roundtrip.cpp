// roundtrip: N clients, each on its own topic, send one message and wait to hear it back before
// the next (or the next --rate tick). Over SSE a client is two connections (POST to publish, its
// event stream to hear); over WebSocket one connection does both. Latency: send -> heard back.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "clock.hpp"
#include "payload.hpp"
#include "transports.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class roundtrip_workload : public workload_base {
 public:
  using workload_base::workload_base;

  int run() override {
    bool ws = o_.transport == "ws";
    if (!e_.init(2 * o_.n + 16) ||
        !e_.endpoint(ws ? o_.target.ws_url : o_.target.sse_url, sub_ep_) ||
        (!ws && !e_.endpoint(o_.target.pub_url, pub_ep_))) {
      std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
      return 2;
    }
    clients_.resize(static_cast<size_t>(o_.n));
    for (long i = 0; i < o_.n; ++i) {
      std::string topic = o_.topic + "-" + std::to_string(i);
      auto& cl = clients_[static_cast<size_t>(i)];
      cl.sub = &e_.add(ws ? conn_kind::ws : conn_kind::sse, sub_ep_, topic,
                       static_cast<uint32_t>(i), false);
      cl.pub = ws ? cl.sub
                  : &e_.add(conn_kind::http_pub, pub_ep_, topic, static_cast<uint32_t>(i), true);
    }
    e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "round-trip clients");
    if (e_.subs_ready() == 0) {
      std::printf("%s: no client could connect: %s\n", title().c_str(), e_.first_error().c_str());
      return 1;
    }
    e_.settle(o_.settle);
    e_.log("round trips over %s for %.1f s, %ld clients", o_.transport.c_str(), o_.duration, o_.n);
    begin();
    deadline_ = t0_ + secs_to_ns(o_.duration);
    for (auto& cl : clients_)
      cl.next_due = t0_;
    publishing_ = true;
    e_.set_progress([this] { e_.log("round trips %" PRIu64, received_); }, 2);
    e_.loop_until(
        deadline_ + 5 * ns_per_sec, [&] { return !publishing_ && waiting() == 0; },
        [&] { return pump(); });
    publishing_ = false;
    end();

    uint64_t lost = waiting();
    std::printf("%s: %ld clients, %.1f s: %" PRIu64 " round trips (%.0f/s), %" PRIu64
                " unanswered, %s%s\n",
                title().c_str(), subs_at_start_, o_.duration, received_,
                static_cast<double>(received_) / window_s(), lost, latency_text(hist_).c_str(),
                cpu_text().c_str());
    print_errors();
    run_result r;
    add_header(r);
    r.str("rate", o_.max_rate ? "max" : fmt("%g", o_.rate));
    r.num("round_trips", static_cast<double>(received_));
    r.num("round_trips_per_s", static_cast<double>(received_) / window_s());
    r.num("unanswered", static_cast<double>(lost));
    add_deliveries(r, pub_sent_);
    int rc = finish(r);
    return rc ? rc : (received_ ? 0 : 1);
  }

  void on_data(client_conn& c, std::string_view data) override {
    if (c.publisher)
      return;
    auto p = parse_payload(data);
    auto& cl = clients_[c.client];
    if (!p || !measuring_ || !cl.waiting || p->msgno != cl.seq) {
      if (!p)
        ++foreign_;
      else if (p->msgno < cl.seq)
        ++duplicates_;
      else
        ++stale_;
      return;
    }
    uint64_t now = e_.read_now();
    hist_.record(now > p->ts ? now - p->ts : 0);
    ++received_;
    last_delivery_ns_ = now;
    cl.waiting = false;
    ++cl.seq;
    cl.next_due =
        o_.max_rate ? now : std::max(now, cl.sent_at + static_cast<uint64_t>(1e9 / o_.rate));
  }

 private:
  struct roundtrip_client {
    client_conn* sub = nullptr;
    client_conn* pub = nullptr;
    bool waiting = false;
    uint64_t seq = 0;
    uint64_t sent_at = 0;
    uint64_t next_due = 0;
  };

  uint64_t waiting() const {
    uint64_t n = 0;
    for (const auto& cl : clients_)
      n += cl.waiting && cl.sub->phase == conn_phase::ready ? 1 : 0;
    return n;
  }

  uint64_t pump() {
    if (!publishing_)
      return UINT64_MAX;
    uint64_t now = now_ns();
    if (now >= deadline_) {
      publishing_ = false;
      return UINT64_MAX;
    }
    uint64_t next = deadline_;
    for (auto& cl : clients_) {
      if (cl.waiting || cl.sub->phase != conn_phase::ready || cl.pub->phase != conn_phase::ready)
        continue;
      if (cl.next_due > now) {
        next = std::min(next, cl.next_due);
        continue;
      }
      cl.sent_at = now_ns();
      make_payload(data_, cl.sent_at, cl.seq, static_cast<size_t>(o_.size));
      if (cl.pub->kind == conn_kind::http_pub)
        http_publisher::publish(e_, *cl.pub, data_);
      else
        ws_client::publish(e_, *cl.pub, data_);
      cl.waiting = true;
      ++pub_sent_;
      e_.flush(*cl.pub);
    }
    return next;
  }

  server_endpoint sub_ep_, pub_ep_;
  std::vector<roundtrip_client> clients_;
  std::string data_;
  bool publishing_ = false;
  uint64_t deadline_ = 0;
};

}  // namespace

int run_roundtrip(const run_options& o) {
  return roundtrip_workload(o).run();
}

}  // namespace bench
