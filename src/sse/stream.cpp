#include "sse/stream.hpp"

#include <boost/asio/post.hpp>

#include "core/cursor.hpp"
#include "io/access_log.hpp"
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

stream::stream(const context& ctx)
    : ctx_(ctx), queue_(ctx.subscribers.backlog, ctx.subscribers.high_water()) {
  ctx_.counters.sse.open.add();
}

stream::~stream() {
  release();
}

void stream::start(std::vector<std::string> names, const resume_from& from) {
  topic_count_ = static_cast<std::uint32_t>(names.size());
  if (names.size() > 1) {
    rare().many = std::make_unique<topic_sub[]>(names.size());
  }
  auto subs = topics();
  for (std::size_t i = 0; i < names.size(); ++i) {
    subs[i].set_owner(*this);
    subs[i].hash = topic_hash(names[i]);
    subs[i].policy = ctx_.subscribers.policies.policy_for(names[i]);
    queue_.enroll(subs[i]);
  }
  std::vector<std::optional<position>> since(names.size());
  if (from.text) {
    ctx_.counters.sse.resumes.add();
    const auto& text = *from.text;
    std::optional<position> single;
    if (names.size() == 1 && (single = parse_position(text))) {
      since[0] = single;
    } else if (auto entries = parse_cursor(text)) {
      // Topics the cursor does not name are new to this client: they start live, without a gap.
      for (std::size_t i = 0; i < names.size(); ++i) {
        for (const auto& e : *entries) {
          if (e.topic_hash == subs[i].hash) {
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
  rare().starting = std::make_unique<start_state>();
  rare_->starting->attaching = names.size();
  queue_.hold(true);  // nothing goes out before the preamble
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto& t = subs[i];
    auto asked = since[i];
    // The registry drops the answer if this stream is gone by then (an asynchronous broker).
    ctx_.registry.subscribe(t, names[i], asked, [this, &t, asked](attach_result r) {
      if (r.unavailable) {
        rare_->starting->unavailable = true;
        r.head = asked.value_or(position{});
      }
      t.sent = r.head;
      if (r.gap) {
        rare_->starting->gaps.push_back(t.topic());
      } else if (asked) {
        t.sent = *asked;
      }
      if (r.retained) {
        rare_->starting->retained.emplace_back(&t, std::move(r.retained));
      }
      // The replay waits in the queue (paced as the socket drains), live messages behind it.
      auto v = queue_.attached(t, r.head, std::move(r.missed), queued_bytes());
      act(t, nullptr, v);
      if (--rare_->starting->attaching == 0) {
        finish_start();
      }
    });
  }
}

void stream::set_origin(std::string_view subject) {
  if (!io::access_log_wanted_at_all()) {
    return;  // the access log is off: nothing to count
  }
  auto& l = rare().log;
  l = std::make_unique<access_record>();
  l->tally.started_ns = steady_now_ns();
  l->subject = subject;
}

void stream::note_end(end_reason r) {
  if (!end_) {
    end_ = r;
  }
}

void stream::send(io::shared_bytes b) {
  if (auto* l = log()) {
    l->tally.sent(b.bytes.size(), false);
  }
  write(std::move(b));
}

void stream::send_gap(std::span<const std::string> topics) {
  ctx_.counters.sse.gaps.add();
  send(gap_event(topics));
}

void stream::finish_start() {
  auto state = std::move(rare_->starting);
  trim_rare();
  queue_.hold(false);
  if (closed_) {
    return;
  }
  if (state->unavailable) {
    // No preamble, so no id: the EventSource reconnects after the retry with the Last-Event-ID it
    // came with, and resumes exactly once the backplane answers.
    send(retry_field(jittered_retry(ctx_.settings.retry_ms)));
    note_end(end_reason::unavailable);
    closed_ = true;
    end();
    return;
  }
  send(preamble(jittered_retry(ctx_.settings.retry_ms), current_id()));
  if (!state->gaps.empty()) {
    send_gap(state->gaps);
  }
  // A retained message is the topic's current state: the stream's id stays at the head, so a
  // reconnect does not replay what was published between the retained message and now.
  for (auto& [t, m] : state->retained) {
    send(id_line(current_id()));
    send({m, m->sse_body()});
    ctx_.counters.sse.deliveries.add();
    count_message();
  }
  pump_backlog();
  arm_heartbeat(ctx_.settings.heartbeat);
}

std::string stream::current_id() const {
  if (topic_count_ == 1) {
    return to_string(one_.sent);
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
    send_gap(lost);  // the `drop` policy dropped messages of this topic
    return;
  }
  if (!m->stored()) {
    send({m, m->sse});  // volatile: no id, so the client's resume position stays put
  } else {
    t.sent = m->pos;
    if (topic_count_ == 1) {
      send({m, m->sse_event()});
    } else {
      send(id_line(current_id()));
      send({m, m->sse_body()});
    }
  }
  ctx_.counters.sse.deliveries.add();
  count_message();
}

void stream::on_message(subscription& s, const message_ptr& m) {
  if (closed_ || m->sse.empty()) {
    return;  // presence diffs have no SSE form
  }
  auto& t = static_cast<topic_sub&>(s);
  auto v = queue_.offer(t, m, queued_bytes());
  if (v.write_only()) [[likely]] {
    emit(t, m);  // the fan-out fast path: no call through act()
    return;
  }
  act(t, m, v);
}

void stream::act(topic_sub& t, const message_ptr& m, const delivery_verdict& v) {
  if (v.gap) {
    std::string lost[] = {t.topic()};
    send_gap(lost);  // the topic's history was lost under us (epoch changed)
  }
  if (v.dropped) {
    ctx_.counters.sse.drops.add();
  }
  switch (v.act) {
    case delivery_verdict::action::write:
      emit(t, m);
      break;
    case delivery_verdict::action::close:
      close_slow();
      break;
    case delivery_verdict::action::skip:
    case delivery_verdict::action::hold:
      break;
  }
}

void stream::pump_backlog() {
  while (!closed_) {
    auto e = queue_.next(queued_bytes());
    if (!e) {
      break;
    }
    emit(static_cast<topic_sub&>(*e->sub), e->m);
  }
}

void stream::close_slow() {
  if (closed_) {
    return;
  }
  // The `resume` policy: close, and let the client resume from history. Closing is deferred:
  // this runs inside the registry's fan-out walk, which must not see lists change under it.
  ctx_.counters.sse.slow_consumer_closes.add();
  note_end(end_reason::slow_consumer);
  ctx_.counters.sse.drops.add();
  closed_ = true;
  abort();
}

void stream::on_sent() {
  pump_backlog();
}

void stream::on_timer() {
  if (closed_) {
    return;
  }
  if (queue_.judge(queued_bytes()).act == delivery_verdict::action::close) {
    close_slow();
    return;
  }
  send(static_bytes(heartbeat()));
  arm_heartbeat(ctx_.settings.heartbeat);
}

void h1_stream::start(std::vector<std::string> topics, const resume_from& from) {
  stream::start(std::move(topics), from);
  conn_.wait_readable();
}

std::string h1_stream::peer_text() const {
  return io::endpoint_text(conn_.peer());
}

void h1_stream::abort() {
  // Deferred: this runs inside the registry's fan-out walk.
  boost::asio::post(conn_.owner().context(), [c = conn_.ref()] { c->close(); });
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
      note_end(ec == boost::asio::error::eof ? end_reason::client_closed : end_reason::error);
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
  send(retry_field(jittered_retry(ctx_.settings.retry_ms)));
  note_end(end_reason::drain);
  closed_ = true;
  end();
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
    ctx_.registry.unsubscribe(t);
  }
  queue_.clear();
  ctx_.counters.sse.open.sub();
  auto reason = end_.value_or(end_reason::client_closed);
  ctx_.counters.sse.end(reason);
  auto* l = log();
  if (l && l->tally.on() &&
      io::access_log_wanted(reason == end_reason::error || reason == end_reason::slow_consumer)) {
    const auto& tally = l->tally;
    io::log_stream_end({transport_name(), topic_count_,
                        static_cast<double>(steady_now_ns() - tally.started_ns) / 1e9,
                        tally.messages, tally.bytes, to_string(reason), peer_text(), l->subject});
  }
}

}  // namespace sb::sse
