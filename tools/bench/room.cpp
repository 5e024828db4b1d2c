// room: N WebSocket clients on one topic (or spread over --rooms topics), each publishing --rate
// msg/s on a fixed, staggered schedule and receiving every message of its room: its own too, except
// with --volatile (the cursor shape: not stored, coalesced per sender, not echoed).
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <string>

#include "clock.hpp"
#include "payload.hpp"
#include "transports.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class room_workload : public workload_base {
 public:
  using workload_base::workload_base;

  int run() override {
    if (!e_.init(o_.n + 16) || !e_.endpoint(o_.target.ws_url, ep_)) {
      std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
      return 2;
    }
    for (long i = 0; i < o_.n; ++i)
      e_.add(conn_kind::ws, ep_, room_topic(i), static_cast<uint32_t>(i), false);
    if (e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "room clients") == 0) {
      std::printf("%s: no client could connect: %s\n", title().c_str(), e_.first_error().c_str());
      return 1;
    }
    e_.settle(o_.settle);
    per_client_ = std::max<uint64_t>(1, static_cast<uint64_t>(o_.rate * o_.duration + 0.5));
    e_.log("room: %ld clients in %ld room(s), each publishing %g%s msg/s for %.1f s",
           e_.subs_ready(), o_.rooms, o_.rate, o_.volatile_ ? " volatile" : "", o_.duration);
    begin();
    // Client i sends its k-th message at t0 + i/(n*rate) + k/rate: the clients interleave evenly.
    for (auto& c : e_.conns()) {
      c->phase_ns = static_cast<uint64_t>(static_cast<double>(c->client) * 1e9 /
                                          (static_cast<double>(o_.n) * o_.rate));
      c->next_due = t0_ + c->phase_ns;
    }
    deadline_ = t0_ + secs_to_ns(o_.duration);
    publishing_ = true;
    e_.set_progress([this] { e_.log("sent %" PRIu64 ", received %" PRIu64, pub_sent_, received_); },
                    2);
    e_.loop_until(
        deadline_ + 2 * ns_per_sec, [&] { return !publishing_; }, [&] { return pump(); });
    publishing_ = false;
    // Each message reaches the clients of its room (all but its sender when volatile). Volatile
    // messages a sender coalesced away never arrive: those count as missing.
    auto expected = [&] {
      uint64_t sum = 0;
      for (auto& c : e_.conns()) {
        sum += c->sent * (room_size(c->client) - (o_.volatile_ ? 1 : 0));
      }
      return sum;
    };
    drain(expected);
    end();

    uint64_t planned = per_client_ * static_cast<uint64_t>(subs_at_start_);
    uint64_t exp = expected();
    double del_window = static_cast<double>(std::max(last_delivery_ns_, t0_ + 1) - t0_) / 1e9;
    std::printf("%s: %ld clients in %ld room(s) x %g%s msg/s, %.1f s: sent %" PRIu64 "/%" PRIu64
                ", deliveries %" PRIu64 "/%" PRIu64 " (%.3f%%) %.0f/s, %s%s\n",
                title().c_str(), subs_at_start_, o_.rooms, o_.rate, o_.volatile_ ? " volatile" : "",
                o_.duration, pub_sent_, planned, received_, exp,
                exp ? 100.0 * static_cast<double>(received_) / static_cast<double>(exp) : 0.0,
                static_cast<double>(received_) / del_window, latency_text(hist_).c_str(),
                cpu_text().c_str());
    if (e_.subs_closed() || e_.subs_failed())
      std::printf("  clients failed %ld, closed during the run %ld\n", e_.subs_failed(),
                  e_.subs_closed());
    print_errors();
    run_result r;
    add_header(r);
    r.num("rate_per_client", o_.rate);
    r.num("rooms", static_cast<double>(o_.rooms));
    r.num("volatile", o_.volatile_ ? 1 : 0);
    r.num("planned_sends", static_cast<double>(planned));
    r.num("sent", static_cast<double>(pub_sent_));
    add_deliveries(r, exp);
    int rc = finish(r);
    return rc ? rc : (received_ ? 0 : 1);
  }

 private:
  std::string room_topic(long client) const {
    return o_.rooms == 1 ? o_.topic : o_.topic + "-" + std::to_string(client % o_.rooms);
  }
  // Clients of the room `client` is in (rooms take turns: client k is in room k % rooms).
  uint64_t room_size(uint32_t client) const {
    auto n = static_cast<uint64_t>(o_.n), r = static_cast<uint64_t>(o_.rooms);
    return n / r + (client % r < n % r ? 1 : 0);
  }

  uint64_t pump() {
    if (!publishing_)
      return UINT64_MAX;
    uint64_t now = now_ns();
    if (now >= deadline_ + ns_per_sec) {  // up to a second's grace when the loop is late
      publishing_ = false;
      return UINT64_MAX;
    }
    uint64_t next = UINT64_MAX;
    for (auto& cp : e_.conns()) {
      client_conn& c = *cp;
      if (c.phase != conn_phase::ready)
        continue;
      bool queued = false;
      while (c.sent < per_client_ && c.next_due <= now) {
        // Message numbers are unique per room: client * per_client + k.
        make_payload(data_, now_ns(), c.client * per_client_ + c.sent,
                     static_cast<size_t>(o_.size));
        ws_client::publish(e_, c, data_, o_.volatile_);
        queued = true;
        ++c.sent;
        ++pub_sent_;
        c.next_due =
            t0_ + c.phase_ns + static_cast<uint64_t>(static_cast<double>(c.sent) * 1e9 / o_.rate);
      }
      if (queued)
        e_.flush(c);
      if (c.phase == conn_phase::ready && c.sent < per_client_)
        next = std::min(next, c.next_due);
    }
    if (next == UINT64_MAX)
      publishing_ = false;
    return next;
  }

  server_endpoint ep_;
  std::string data_;
  bool publishing_ = false;
  uint64_t per_client_ = 0, deadline_ = 0;
};

}  // namespace

int run_room(const run_options& o) {
  return room_workload(o).run();
}

}  // namespace bench
