// storm: the resume storm. N SSE subscribers on the first --base (the victim node) follow a topic
// that one HTTP publisher feeds at --rate through the second --base (a node that stays up). After
// --kill-after seconds the generator sends SIGKILL to --kill PID (the victim); every subscriber
// sees its stream end and at once opens a new one through --resume-base (the load balancer) with
// Last-Event-ID. A subscriber has resumed when its new stream has delivered every message sent
// before it reconnected (what it missed while away); at the end each must hold every acknowledged
// message exactly once (message numbers, no duplicates, nothing else on the stream).
#include <signal.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <deque>

#include "clock.hpp"
#include "payload.hpp"
#include "transports.hpp"
#include "workload.hpp"

namespace bench {

namespace {

class storm_workload : public workload_base {
 public:
  explicit storm_workload(const run_options& o) : workload_base(o) { o_.verify = true; }

  int run() override {
    if (o_.targets.size() < 2 || o_.kill_pid <= 0) {
      std::fprintf(stderr, "storm: needs --base VICTIM --base PUBLISH-NODE and --kill PID\n");
      return 2;
    }
    if (!e_.init(o_.n + 16) || !resolve(&bench_target::sse_url, sub_eps_) ||
        !resolve(&bench_target::pub_url, pub_eps_) ||
        !e_.endpoint(o_.resume_base + "/v1/events?topic={topic}", resume_ep_)) {
      std::fprintf(stderr, "switchboard-bench: %s\n", e_.first_error().c_str());
      return 2;
    }
    state_.assign(static_cast<size_t>(o_.n), {});
    add_subscribers(sub_eps_[0], 0, o_.n);
    for (auto& c : e_.conns())
      c->track_id = true;
    e_.open_all(now_ns() + secs_to_ns(o_.connect_timeout), "subscribers on the victim");
    subs_ = e_.subs_ready();
    if (subs_ != o_.n) {
      std::printf("storm: %ld/%ld subscribers connected: %s\n", subs_, o_.n,
                  e_.first_error().c_str());
      return 1;
    }
    pub_ = &e_.add(conn_kind::http_pub, pub_eps_[1], o_.topic, 0, true);
    e_.open_all(now_ns() + 10 * ns_per_sec, "publisher");
    if (e_.pubs_ready() == 0) {
      std::printf("storm: no publisher connection: %s\n", e_.first_error().c_str());
      return 1;
    }
    e_.settle(o_.settle);
    planned_ = std::max<uint64_t>(1, static_cast<uint64_t>(o_.rate * o_.duration + 0.5));
    begin();
    kill_at_ = t0_ + secs_to_ns(o_.kill_after);
    deadline_ = t0_ + secs_to_ns(o_.duration);
    e_.set_progress(
        [this] {
          e_.log("published %" PRIu64 ", received %" PRIu64 ", reopened %ld, resumed %ld", pub_ok_,
                 received_, reopened_, resumed_);
        },
        2);
    e_.log("publishing at %g msg/s for %.1f s; SIGKILL to %ld at %.1f s", o_.rate, o_.duration,
           o_.kill_pid, o_.kill_after);
    e_.loop_until(
        deadline_ + 30 * ns_per_sec,
        [&] { return !publishing_ && pub_->outstanding == 0 && pub_sent_ >= planned_; },
        [&] { return tick(); });
    if (!publishing_ && pub_->outstanding)
      e_.note_error("publishes unanswered after the run");
    publishing_ = false;
    uint64_t published = pub_sent_ - pub_err_;
    drain([&] { return published * static_cast<uint64_t>(subs_); });
    end();
    if (!all_resumed_hook_done_) {
      sent_at_resumed_ = pub_sent_;
      run_hook(o_.at_resumed);
    }

    long exact = 0, missing_subs = 0;
    uint64_t missing = 0;
    for (auto& c : e_.conns()) {
      if (c->publisher)
        continue;
      // Every acknowledged message must be there; a refused one (503 while Redis was slow) may
      // not be, and is not counted either way.
      uint64_t want = 0, have = 0;
      for (uint64_t m = 0; m < acked_.size(); ++m) {
        if (acked_[m] != 1)
          continue;
        ++want;
        have += m < c->seen.size() && c->seen[m] ? 1 : 0;
      }
      missing += want - have;
      if (have == want)
        ++exact;
      else
        ++missing_subs;
    }
    auto s = [](uint64_t ns) { return static_cast<double>(ns) / 1e9; };
    auto pct = [&](const log_histogram& h, double p) { return s(h.percentile(p)); };
    std::printf(
        "storm sse %s: %ld subscribers, SIGKILL at %.1f s, published %" PRIu64 " (%" PRIu64
        " before the kill); reopened %ld (%" PRIu64
        " attempts), resumed %ld; reconnected p50 %.3f s p99 %.3f "
        "s max %.3f s; resumed p50 %.3f s p99 %.3f s max %.3f s after the kill; exact %ld/%ld "
        "(missing %" PRIu64 " deliveries in %ld subscribers, duplicates %" PRIu64
        ", foreign events %" PRIu64 "), publish errors %" PRIu64 "%s\n",
        o_.target.name.c_str(), subs_, o_.kill_after, published, sent_at_kill_, reopened_,
        attempts_, resumed_, pct(reconnect_hist_, 50), pct(reconnect_hist_, 99),
        s(reconnect_hist_.max()), pct(resume_hist_, 50), pct(resume_hist_, 99),
        s(resume_hist_.max()), exact, subs_, missing, missing_subs, duplicates_, foreign_, pub_err_,
        cpu_text().c_str());
    print_errors();
    if (!first_foreign_.empty())
      std::printf("  first event that is not a published message: data %s\n",
                  first_foreign_.c_str());
    run_result r;
    add_header(r);
    r.num("rate", o_.rate);
    r.num("kill_after_s", o_.kill_after);
    r.num("published", static_cast<double>(published));
    r.num("published_before_kill", static_cast<double>(sent_at_kill_));
    r.num("published_kill_to_all_resumed", static_cast<double>(sent_at_resumed_ - sent_at_kill_));
    r.num("publish_errors", static_cast<double>(pub_err_));
    r.num("subscribers", static_cast<double>(subs_));
    r.num("reopened", static_cast<double>(reopened_));
    r.num("resumed", static_cast<double>(resumed_));
    r.num("reopen_attempts", static_cast<double>(attempts_));
    r.num("reconnect_s_p50", pct(reconnect_hist_, 50));
    r.num("reconnect_s_p99", pct(reconnect_hist_, 99));
    r.num("reconnect_s_max", s(reconnect_hist_.max()));
    r.num("resume_s_p50", pct(resume_hist_, 50));
    r.num("resume_s_p99", pct(resume_hist_, 99));
    r.num("resume_s_max", s(resume_hist_.max()));
    r.num("exact_subscribers", static_cast<double>(exact));
    r.num("missing_deliveries", static_cast<double>(missing));
    r.num("duplicate_deliveries", static_cast<double>(duplicates_));
    r.num("foreign_events", static_cast<double>(foreign_));
    r.str("first_foreign_event_data", first_foreign_);
    r.num("received_deliveries", static_cast<double>(received_));
    add_latency(r, hist_, "");
    r.num("errors", static_cast<double>(e_.errors()));
    r.str("first_error", e_.first_error());
    int rc = finish(r);
    return rc ? rc : (exact == subs_ && resumed_ == subs_ ? 0 : 1);
  }

  // Answers on the one keep-alive connection come in request order: which message each is for.
  void on_answer(client_conn& c, bool ok) override {
    workload_base::on_answer(c, ok);
    if (in_flight_.empty())
      return;
    uint64_t m = in_flight_.front();
    in_flight_.pop_front();
    if (acked_.size() <= m)
      acked_.resize(m + 1, 0);
    acked_[m] = ok ? 1 : 2;
  }

  void on_closed(client_conn& c) override {
    if (c.publisher || !killed_)
      return;
    // The first reconnect is at once (the storm); one that fails (the balancer still routing to
    // the dead node, a refusal) is retried after half a second, as an EventSource would.
    sub_state& st = state_[c.client];
    uint64_t at = st.attempts == 0 ? 0 : now_ns() + ns_per_sec / 2;
    ++st.attempts;
    ++attempts_;
    to_reopen_.push_back({&c, at});
  }

  void on_ready(client_conn& c) override {
    if (c.publisher || !killed_)
      return;
    sub_state& st = state_[c.client];
    if (!st.reopened) {
      st.reopened = true;
      ++reopened_;
      reconnect_hist_.record(e_.read_now() - kill_ns_);
    }
    // Resumed once it has everything published up to this reconnect: what it missed while away.
    st.need = pub_sent_;
    check_resumed(c);
  }

  void on_data(client_conn& c, std::string_view data) override {
    if (c.publisher)
      return;
    uint64_t foreign_before = foreign_;
    workload_base::on_data(c, data);
    if (foreign_ != foreign_before && first_foreign_.empty())
      first_foreign_ = std::string(data.substr(0, 200));
    sub_state& st = state_[c.client];
    while (st.prefix < c.seen.size() &&
           (c.seen[st.prefix] || (st.prefix < acked_.size() && acked_[st.prefix] == 2)))
      ++st.prefix;
    if (killed_ && st.reopened && !st.resumed)
      check_resumed(c);
  }

 private:
  struct sub_state {
    uint64_t prefix = 0;  // messages 0..prefix-1 all received (or refused)
    uint64_t need = 0;    // messages sent before its last reconnect
    uint32_t attempts = 0;
    bool reopened = false, resumed = false;
  };

  void check_resumed(client_conn& c) {
    sub_state& st = state_[c.client];
    if (st.resumed || !st.reopened || st.prefix < std::max(sent_at_kill_, st.need))
      return;
    st.resumed = true;
    ++resumed_;
    resume_hist_.record(e_.read_now() - kill_ns_);
    if (resumed_ == subs_) {
      sent_at_resumed_ = pub_sent_;
      e_.log("all %ld resumed %.3f s after the kill", subs_,
             static_cast<double>(e_.read_now() - kill_ns_) / 1e9);
      run_hook(o_.at_resumed);
      all_resumed_hook_done_ = true;
    }
  }

  void run_hook(const std::string& cmd) {
    if (!cmd.empty() && std::system(cmd.c_str()) != 0)
      e_.note_error("hook failed: " + cmd);
  }

  uint64_t tick() {
    uint64_t now = now_ns();
    if (!killed_ && now >= kill_at_) {
      run_hook(o_.at_kill);
      // Whatever was sent before the kill is stored by the surviving node: every subscriber must
      // get all of it.
      sent_at_kill_ = pub_sent_;
      kill_ns_ = now_ns();
      if (::kill(static_cast<pid_t>(o_.kill_pid), SIGKILL) != 0)
        e_.note_error("kill: cannot signal the victim");
      killed_ = true;
      e_.log("SIGKILL sent to %ld", o_.kill_pid);
    }
    if (!to_reopen_.empty()) {
      std::vector<pending> later;
      for (const pending& p : to_reopen_) {
        if (p.at <= now)
          e_.reopen(*p.c, resume_ep_);
        else
          later.push_back(p);
      }
      to_reopen_.swap(later);
    }
    uint64_t soon = to_reopen_.empty() ? UINT64_MAX : now + ns_per_sec / 20;
    if (!publishing_)
      return killed_ ? soon : kill_at_;
    if (now >= deadline_ + ns_per_sec || pub_sent_ >= planned_ ||
        pub_->phase != conn_phase::ready) {
      publishing_ = false;
      return killed_ ? soon : kill_at_;
    }
    auto due = std::min<uint64_t>(
        static_cast<uint64_t>(static_cast<double>(now - t0_) * o_.rate / 1e9) + 1, planned_);
    bool sent = false;
    while (pub_sent_ < due) {
      make_payload(data_, now, pub_sent_, static_cast<size_t>(o_.size));
      in_flight_.push_back(pub_sent_);
      http_publisher::publish(e_, *pub_, data_);
      ++pub_->sent;
      ++pub_sent_;
      sent = true;
    }
    if (sent)
      e_.flush(*pub_);
    uint64_t next = t0_ + static_cast<uint64_t>(static_cast<double>(pub_sent_) * 1e9 / o_.rate);
    return killed_ ? std::min(next, soon) : std::min(next, kill_at_);
  }

  std::vector<server_endpoint> sub_eps_, pub_eps_;
  server_endpoint resume_ep_;
  client_conn* pub_ = nullptr;
  std::vector<sub_state> state_;
  struct pending {
    client_conn* c;
    uint64_t at;
  };
  std::vector<pending> to_reopen_;
  uint64_t attempts_ = 0;
  std::string first_foreign_;
  std::deque<uint64_t> in_flight_;  // message numbers sent, not yet answered
  std::vector<uint8_t> acked_;      // per message number: 1 acknowledged, 2 refused
  std::string data_;
  long subs_ = 0, reopened_ = 0, resumed_ = 0;
  bool publishing_ = true, killed_ = false, all_resumed_hook_done_ = false;
  uint64_t planned_ = 0, deadline_ = 0, kill_at_ = 0, kill_ns_ = 0;
  uint64_t sent_at_kill_ = 0, sent_at_resumed_ = 0;
  log_histogram reconnect_hist_, resume_hist_;
};

}  // namespace

int run_storm(const run_options& o) {
  return storm_workload(o).run();
}

}  // namespace bench
