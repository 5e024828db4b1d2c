#include "sse/stream.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "core/cursor.hpp"
#include "sse/encoder.hpp"
#include "sse/retry_jitter.hpp"

namespace sb::sse {
namespace {

/// A resume text that names no recoverable position: every topic gets a gap.
constexpr position unrecoverable{0, 0};

io::shared_bytes static_bytes(std::string_view s) {
  return {nullptr, s};
}

}  // namespace

stream::stream(sink& out, topic_registry& registry, loop_counters& counters, const settings& s)
    : out_(out), registry_(registry), counters_(counters), settings_(s) {
  counters_.sse_streams.add();
}

stream::~stream() {
  release();
}

void stream::start(std::vector<std::string> names, const resume_from& from) {
  topic_count_ = static_cast<std::uint32_t>(names.size());
  topics_ = std::make_unique<topic_sub[]>(names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    topics_[i].set_owner(*this);
    topics_[i].hash = topic_hash(names[i]);
    if (settings_.policies) {
      topics_[i].policy = settings_.policies->policy_for(names[i]);
    }
  }
  std::vector<std::optional<position>> since(names.size());
  if (from.text) {
    const auto& text = *from.text;
    std::optional<position> single;
    if (names.size() == 1 && (single = parse_position(text))) {
      since[0] = single;
    } else if (auto entries = parse_cursor(text)) {
      // Topics the cursor does not name are new to this client: they start live, without a gap.
      for (std::size_t i = 0; i < names.size(); ++i) {
        for (const auto& e : *entries) {
          if (e.topic_hash == topics_[i].hash) {
            since[i] = e.at;
          }
        }
      }
    } else {
      for (auto& s : since) {
        s = unrecoverable;
      }
    }
  }
  starting_ = std::make_unique<start_state>();
  alive_ = std::make_shared<bool>(true);
  starting_->attaching = names.size();
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto& t = topics_[i];
    auto asked = since[i];
    registry_.subscribe(t, names[i], asked,
                        [this, alive = std::weak_ptr<bool>(alive_), &t, asked](attach_result r) {
                          if (!alive.lock()) {
                            return;
                          }
                          t.at = r.head;
                          t.sent = r.head;
                          if (r.gap) {
                            starting_->gaps.push_back(t.topic());
                          } else if (asked) {
                            t.sent = *asked;
                            for (auto& m : r.missed) {
                              feed_.push_replay(t, std::move(m));
                            }
                          }
                          if (r.retained) {
                            starting_->retained.emplace_back(&t, std::move(r.retained));
                          }
                          if (--starting_->attaching == 0) {
                            finish_start();
                          }
                        });
  }
}

void stream::finish_start() {
  auto state = std::move(starting_);
  alive_.reset();  // every attach has answered
  if (closed_) {
    return;
  }
  out_.send(preamble(jittered_retry(settings_.retry_ms), current_id()));
  if (!state->gaps.empty()) {
    out_.send(gap_event(state->gaps));
  }
  // A retained message is the topic's current state: the stream's id stays at the head, so a
  // reconnect does not replay what was published between the retained message and now.
  for (auto& [t, m] : state->retained) {
    out_.send(id_line(current_id()));
    out_.send({m, m->sse_body()});
    counters_.deliveries.add();
  }
  pump_backlog();
  out_.arm_heartbeat(settings_.heartbeat);
}

std::string stream::current_id() const {
  if (topic_count_ == 1) {
    return to_string(topics_[0].sent);
  }
  std::vector<cursor_entry> entries;
  entries.reserve(topic_count_);
  for (const auto& t : topics()) {
    entries.push_back({t.hash, t.sent});
  }
  std::string out;
  append_cursor(out, entries);
  return out;
}

void stream::emit(topic_sub& t, const message_ptr& m) {
  if (!m) {
    std::string lost[] = {t.topic()};
    out_.send(gap_event(lost));  // the `drop` policy dropped messages of this topic
    return;
  }
  if (!m->stored()) {
    out_.send({m, m->sse});  // volatile: no id, so the client's resume position stays put
  } else {
    t.sent = m->pos;
    if (topic_count_ == 1) {
      out_.send({m, m->sse_event()});
    } else {
      out_.send(id_line(current_id()));
      out_.send({m, m->sse_body()});
    }
  }
  counters_.deliveries.add();
}

void stream::on_message(subscription& s, const message_ptr& m) {
  if (closed_ || m->sse.empty()) {
    return;  // presence diffs have no SSE form
  }
  auto& t = static_cast<topic_sub&>(s);
  if (m->stored()) {
    if (m->pos.epoch == t.at.epoch && m->pos.seq <= t.at.seq) {
      return;  // replayed already, or queued before this subscriber attached
    }
    if (m->pos.epoch != t.at.epoch) {
      std::string lost[] = {t.topic()};
      out_.send(gap_event(lost));  // the topic's history was lost under us (epoch changed)
    }
    t.at = m->pos;
  }
  if (feed_.empty() && !starting_ && out_.queued_bytes() < settings_.replay_high_water) {
    emit(t, m);
    return;
  }
  apply(
      feed_.push_live(t, m, t.policy, settings_.backlog, out_.queued_bytes(), feed::clock::now()));
}

void stream::apply(feed::verdict v) {
  switch (v) {
    case feed::verdict::queued:
      break;
    case feed::verdict::dropped:
      counters_.drops.add();
      break;
    case feed::verdict::close:
      close_slow();
      break;
  }
}

void stream::pump_backlog() {
  while (!closed_ && out_.queued_bytes() < settings_.replay_high_water) {
    auto e = feed_.pop();
    if (!e) {
      break;
    }
    emit(static_cast<topic_sub&>(*e->sub), e->m);
  }
}

void stream::close_slow() {
  // The `resume` policy: close, and let the client resume from history. Closing is deferred:
  // this runs inside the registry's fan-out walk, which must not see lists change under it.
  counters_.slow_consumer_closes.add();
  counters_.drops.add();
  closed_ = true;
  out_.abort();
}

void stream::on_sent() {
  pump_backlog();
}

void stream::on_timer() {
  if (closed_) {
    return;
  }
  // A stream stuck over the soft bound is judged here too, not only when a message arrives: a
  // reader that stopped on a quiet topic would otherwise hold its backlog until the next publish.
  if (feed_.overdue(settings_.backlog, out_.queued_bytes(), feed::clock::now()) &&
      std::any_of(topics().begin(), topics().end(),
                  [](const topic_sub& t) { return t.policy == overflow_policy::resume; })) {
    close_slow();
    return;
  }
  out_.send(static_bytes(heartbeat()));
  out_.arm_heartbeat(settings_.heartbeat);
}

void h1_stream::start(std::vector<std::string> topics, const resume_from& from) {
  stream_.start(std::move(topics), from);
  conn_.wait_readable();
}

void h1_stream::abort() {
  // Deferred: this runs inside the registry's fan-out walk.
  boost::asio::post(conn_.owner().context(), [c = conn_.shared_from_this()] { c->close(); });
}

void h1_stream::on_readable() {
  // A client has nothing to say on an SSE stream; reading only tells when it hangs up.
  char scratch[512];
  boost::system::error_code ec;
  for (int i = 0; i < 8; ++i) {
    conn_.read_some(scratch, sizeof scratch, ec);
    if (ec == boost::asio::error::would_block) {
      conn_.wait_readable();
      return;
    }
    if (ec) {
      conn_.close();
      return;
    }
  }
  conn_.wait_readable();
}

void stream::on_drain() {
  if (closed_) {
    return;
  }
  out_.send(retry_field(jittered_retry(settings_.retry_ms)));
  closed_ = true;
  out_.end();
}

void stream::on_close() {
  closed_ = true;
  release();
}

void stream::release() {
  if (released_) {
    return;
  }
  released_ = true;
  for (auto& t : topics()) {
    registry_.unsubscribe(t);
  }
  feed_.clear();
  counters_.sse_streams.sub();
}

}  // namespace sb::sse
