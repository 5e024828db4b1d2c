// fanout: N subscribers on one topic, one publisher side (keep-alive HTTP POSTs, or one WebSocket)
// at a fixed rate or closed-loop "max"; deliveries/s, latency, server CPU per delivery.
#include <algorithm>
#include <cinttypes>
#include <cstdio>

#include "clock.hpp"
#include "multiproc.hpp"
#include "payload.hpp"
#include "transports.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class fanout_workload : public workload_base {
 public:
  using workload_base::workload_base;

  int run() override {
    bool ws_sub = o_.transport == "ws";
    bool ws_pub = o_.pub == "ws";
    // With --procs only the first child publishes; the others subscribe and count.
    bool publishes = o_.proc_index <= 0;
    long pubs = !publishes ? 0 : ws_pub ? 1 : o_.pub_conns;
    if (!e_.init(sub_connections(o_.n) + pubs + 16) ||
        !resolve(ws_sub ? &bench_target::ws_url : &bench_target::sse_url, sub_eps_) ||
        !resolve(ws_pub ? &bench_target::ws_url : &bench_target::pub_url, pub_eps_)) {
      std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
      return 2;
    }
    add_subscribers(sub_eps_, 0, o_.n);
    const char* what = sub_kind() == conn_kind::sse_h2 ? "subscriber connections" : "subscribers";
    if (e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), what) == 0) {
      std::printf("%s: no subscriber could connect: %s\n", title().c_str(),
                  e_.first_error().c_str());
      return 1;
    }
    if (!publishes)
      return run_listener();
    uint64_t go = 0;
    if (o_.proc_index >= 0) {
      // A child waits for the others before it opens its publisher, which the server would
      // otherwise close as an idle keep-alive connection during the wait.
      e_.settle(o_.settle);
      go = child_barrier(o_);
      if (go == 0)
        return 1;
    }
    acked_ = ws_pub && o_.target.ws_style == ws_flavor::switchboard_v1;
    for (long i = 0; i < pubs; ++i) {
      const server_endpoint& ep = pub_eps_[static_cast<size_t>(i) % pub_eps_.size()];
      client_conn& c = e_.add(ws_pub ? conn_kind::ws : conn_kind::http_pub, ep, o_.topic, 0, true);
      c.track_acks = acked_;
      pub_conns_.push_back(&c);
    }
    if (!ws_pub)
      acked_ = true;
    e_.open_all(now_ns() + 10 * ns_per_sec, "publishers");
    if (e_.pubs_ready() == 0) {
      std::printf("%s: no publisher connection: %s\n", title().c_str(), e_.first_error().c_str());
      return 1;
    }
    if (o_.proc_index < 0) {
      e_.settle(o_.settle);
      go = now_ns();
    }

    planned_ = o_.max_rate
                   ? UINT64_MAX
                   : std::max<uint64_t>(1, static_cast<uint64_t>(o_.rate * o_.duration + 0.5));
    e_.log("publishing (%s) for %.1f s at %s to %ld subscribers", o_.pub.c_str(), o_.duration,
           o_.max_rate ? "max rate" : fmt("%g msg/s", o_.rate).c_str(), e_.subs_ready());
    begin();
    t0_ = std::min(t0_, go);
    deadline_ = t0_ + secs_to_ns(o_.duration);
    publishing_ = true;
    e_.set_progress(
        [this] {
          e_.log("published %" PRIu64 " ok (%" PRIu64 " sent), received %" PRIu64, pub_ok_,
                 pub_sent_, received_);
        },
        2);
    e_.loop_until(
        deadline_ + 30 * ns_per_sec, [&] { return !publishing_ && outstanding() == 0; },
        [&] { return pump(); });
    publishing_ = false;
    if (uint64_t left = outstanding())
      e_.note_error(fmt("%" PRIu64 " publishes still unanswered after the run", left));
    auto expected = [&] { return (pub_sent_ - pub_err_) * static_cast<uint64_t>(subs_at_start_); };
    drain(expected);
    end();
    if (o_.proc_index >= 0) {
      report_to_parent();
      return 0;
    }

    double pub_window = static_cast<double>(std::max(last_ack_ns_, t0_ + 1) - t0_) / 1e9;
    double published_per_s = static_cast<double>(acked_ ? pub_ok_ : pub_sent_) / pub_window;
    uint64_t exp = expected();
    double del_window = static_cast<double>(std::max(last_delivery_ns_, t0_ + 1) - t0_) / 1e9;
    std::string rate = o_.max_rate ? "max" : fmt("%g msg/s", o_.rate);
    std::printf("%s: %ld subs, %s, %.1f s, %ld B: published %" PRIu64
                " (%.0f/s), deliveries %" PRIu64 "/%" PRIu64 " (%.3f%%) %.0f/s, %s%s\n",
                title().c_str(), subs_at_start_, rate.c_str(), o_.duration, o_.size,
                pub_sent_ - pub_err_, published_per_s, received_, exp,
                exp ? 100.0 * static_cast<double>(received_) / static_cast<double>(exp) : 0.0,
                static_cast<double>(received_) / del_window, latency_text(hist_).c_str(),
                cpu_text().c_str());
    if (pub_err_ || e_.subs_closed() || e_.subs_failed())
      std::printf("  publish errors %" PRIu64 ", subscribers failed %ld, closed %ld\n", pub_err_,
                  e_.subs_failed(), e_.subs_closed());
    print_errors();
    run_result r;
    add_header(r);
    r.str("publisher", o_.pub);
    r.str("rate", o_.max_rate ? "max" : fmt("%g", o_.rate));
    r.num("publisher_connections", static_cast<double>(pubs));
    r.num("published_per_s", published_per_s);
    add_deliveries(r, exp);
    int rc = finish(r);
    return rc ? rc : (received_ ? 0 : 1);
  }

 private:
  // A child of --procs that does not publish: counts what arrives from the start signal until
  // --duration (and a second of grace) is over, then drains (nothing for 3 s, or --drain).
  int run_listener() {
    e_.settle(o_.settle);
    uint64_t go = child_barrier(o_);
    if (go == 0)
      return 1;
    begin();
    t0_ = std::min(t0_, go);
    e_.loop_until(t0_ + secs_to_ns(o_.duration + 1), [] { return false; });
    drain([] { return UINT64_MAX; });
    end();
    report_to_parent();
    return 0;
  }

  uint64_t outstanding() const {
    uint64_t s = 0;
    for (const client_conn* c : pub_conns_)
      if (c->phase == conn_phase::ready)
        s += c->outstanding;
    return s;
  }

  client_conn* pick() {
    client_conn* best = nullptr;
    for (client_conn* c : pub_conns_) {
      if (c->phase != conn_phase::ready || c->outstanding >= static_cast<uint64_t>(o_.pipeline))
        continue;
      if (!best || c->outstanding < best->outstanding)
        best = c;
    }
    return best;
  }

  // Sends what is due; returns when it next needs to run.
  uint64_t pump() {
    if (!publishing_)
      return UINT64_MAX;
    uint64_t now = now_ns();
    // A rate run sends every planned message, with up to a second's grace when the loop is late.
    uint64_t stop_at = o_.max_rate ? deadline_ : deadline_ + ns_per_sec;
    bool any_publisher =
        std::any_of(pub_conns_.begin(), pub_conns_.end(),
                    [](const client_conn* c) { return c->phase != conn_phase::dead; });
    if (now >= stop_at || pub_sent_ >= planned_ || !any_publisher) {
      publishing_ = false;
      return UINT64_MAX;
    }
    touched_.clear();
    auto send_one = [&] {
      client_conn* c = pick();
      if (!c)
        return false;
      if (c->out.size() == c->out_off)
        touched_.push_back(c);
      make_payload(data_, now, pub_sent_, static_cast<size_t>(o_.size));
      if (c->kind == conn_kind::http_pub)
        http_publisher::publish(e_, *c, data_);
      else
        ws_client::publish(e_, *c, data_);
      ++c->sent;
      ++pub_sent_;
      return true;
    };
    if (o_.max_rate) {
      auto subs = static_cast<uint64_t>(subs_at_start_);
      uint64_t window = static_cast<uint64_t>(o_.max_lag) * subs;
      while ((pub_sent_ - pub_err_) * subs < received_ + window)
        if (!send_one())
          break;
    } else {
      auto due = std::min<uint64_t>(
          static_cast<uint64_t>(static_cast<double>(now - t0_) * o_.rate / 1e9) + 1, planned_);
      while (pub_sent_ < due)
        if (!send_one())
          break;
    }
    for (client_conn* c : touched_)
      if (c->phase == conn_phase::ready)
        e_.flush(*c);
    if (o_.max_rate)
      return now + ns_per_sec / 1000;
    return t0_ + static_cast<uint64_t>(static_cast<double>(pub_sent_) * 1e9 / o_.rate);
  }

  std::vector<server_endpoint> sub_eps_, pub_eps_;
  std::vector<client_conn*> pub_conns_;
  std::vector<client_conn*> touched_;
  std::string data_;
  bool acked_ = true;
  bool publishing_ = false;
  uint64_t planned_ = 0, deadline_ = 0;
};

}  // namespace

int run_fanout(const run_options& o) {
  return fanout_workload(o).run();
}

}  // namespace bench
