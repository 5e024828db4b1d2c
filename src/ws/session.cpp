#include "ws/session.hpp"

#include <algorithm>
#include <boost/asio/post.hpp>

#include "core/publish.hpp"
#include "core/topic_name.hpp"
#include "core/unix_ms.hpp"
#include "core/utf8.hpp"
#include "io/access_log.hpp"

namespace sb::ws {
namespace {

using clock = std::chrono::steady_clock;

constexpr std::size_t read_chunk = 16 << 10;

/// The identities of the callers that carry no per-connection facts (anonymous, API key).
struct common_identities {
  auth::identity anonymous_all{auth::grants::everything(), true, false};
  auth::identity api_key{auth::grants::everything(), false, true};
  auth::identity anonymous_none{{}, true, false};
};

const common_identities& common() {
  static const common_identities ids;
  return ids;
}

/// One shared identity for the callers that carry no per-connection facts; a connection's own
/// otherwise.
const auth::identity* share(auth::identity who) {
  if (who.grants.subject.empty() && who.grants.subscribe.empty() && who.grants.publish.empty()) {
    if (who.grants.all && (who.api_key || who.anonymous)) {
      return who.api_key ? &common().api_key : &common().anonymous_all;
    }
    if (!who.grants.all && who.anonymous) {
      return &common().anonymous_none;
    }
  }
  return new auth::identity(std::move(who));
}

}  // namespace

void session::identity_release::operator()(const auth::identity* who) const {
  const auto& c = common();
  if (who != &c.anonymous_all && who != &c.api_key && who != &c.anonymous_none) {
    delete who;
  }
}

session::session(transport& conn, context& ctx, std::string early, auth::identity who,
                 std::optional<deflate_params> deflate)
    : conn_(conn),
      ctx_(ctx),
      who_(share(std::move(who))),
      parser_(max_frame_bytes(ctx.messages)),
      queue_(ctx.subscribers.backlog, ctx.subscribers.high_water()) {
  if (deflate) {
    rare().deflate = std::make_unique<deflate_state>(deflate_state{*deflate, {}});
    parser_.allow_compressed();
  }
  if (!early.empty()) {
    input().bytes = std::move(early);
  }
  ctx_.counters.ws.open.add();
  if (io::access_log_wanted_at_all()) {
    rare().tally.started_ns = steady_now_ns();
  }
}

std::string session::identity() const {
  return who_->grants.subject.empty() ? "c" + std::to_string(conn_.id()) + ctx_.connection_suffix
                                      : who_->grants.subject;
}

session::publisher_state& session::publisher() {
  auto& p = rare().publisher;
  if (!p) {
    p = std::make_unique<publisher_state>();
    p->volatile_timer.bind<&session::flush_volatile>(this);
  }
  return *p;
}

session::rare_state& session::rare() {
  if (!rare_) {
    rare_ = std::make_unique<rare_state>();
  }
  return *rare_;
}

void session::trim_rare() {
  if (rare_ && rare_->more_topics.empty() && !rare_->publisher && !rare_->deflate &&
      !rare_->tally.on() && !rare_->alive) {
    rare_.reset();
  }
}

session::~session() {
  release();
}

void session::start() {
  conn_.set_beat(ctx_.config.ping_interval);
  if (in_) {
    on_readable();
  } else {
    conn_.wait_readable();
  }
}

void session::on_readable() {
  if (closing_) {
    return;
  }
  // Backpressure: what a peer asks for (pongs, acks, presence snapshots) goes straight to its
  // queue, so a peer that asks and never reads would make it grow without bound. Over the soft
  // bound (fan-out alone never gets there: it waits in the feed past the high-water mark) we stop
  // reading; on_sent reads again once the peer has taken most of it.
  if (conn_.queued_bytes() > ctx_.subscribers.backlog.soft_bytes) {
    input_paused_ = true;
    return;
  }
  // Read on the stack and keep only what arrived: a heap buffer sized for the largest read would
  // be touched (and kept, fragmented) by every connection for a few bytes of JSON.
  char chunk[read_chunk];
  boost::system::error_code ec;
  for (int reads = 0; reads < 4 && !ec; ++reads) {
    auto n = conn_.read_some(chunk, sizeof chunk, ec);
    if (n > 0) {
      input().bytes.append(chunk, n);
    }
    if (n < sizeof chunk) {
      break;
    }
  }
  if (ec && ec != boost::asio::error::would_block) {
    note_end(ec == boost::asio::error::eof ? end_reason::client_closed : end_reason::error);
    conn_.close();  // the peer went away without a close frame
    return;
  }
  heard_since_ping_ = true;
  if (!in_) {
    if (!closing_) {
      conn_.wait_readable();
    }
    return;
  }
  in_->progressed = false;
  if (auto code = parser_.parse(in_->bytes, *this); code != close_code::none && !closing_) {
    close_with(code, close_reason(code));
    return;
  }
  if (!closing_) {
    settle_input();
    conn_.wait_readable();
  }
}

session::partial_input& session::input() {
  if (!in_) {
    in_ = std::make_unique<partial_input>();
    in_->deadline.bind<&session::on_message_deadline>(this);
  }
  return *in_;
}

void session::settle_input() {
  if (in_->bytes.empty() && !parser_.in_message()) {
    in_.reset();  // an idle connection keeps no read buffer and no deadline
    return;
  }
  // The deadline runs from the start of what is pending and restarts only when something ended,
  // so a frame trickled a byte at a time, or fragments that never end, run out of time.
  if (!in_->deadline.scheduled() || in_->progressed) {
    conn_.owner().wheel().schedule(in_->deadline, ctx_.config.message_timeout);
  }
}

void session::on_message_deadline() {
  note_end(end_reason::idle);
  close_with(close_code::policy, "message not completed in time");
}

void session::on_text(std::string_view text) {
  if (closing_) {
    return;
  }
  in_->progressed = true;
  auto parsed = parse_client_op(text);
  if (auto* e = std::get_if<op_error>(&parsed)) {
    fail_op(e->ref, e->code, e->message);
    return;
  }
  handle(std::get<client_op>(parsed));
}

void session::on_binary(std::string_view) {
  in_->progressed = true;
  fail_op(nullptr, "bad_frame", "switchboard.v1 speaks JSON in text frames");
}

void session::on_ping(std::string_view payload) {
  in_->progressed = !parser_.in_message();  // a ping between fragments does not end the message
  if (!closing_) {
    conn_.send(make_frame(opcode::pong, payload));
  }
}

void session::on_pong(std::string_view) {
  in_->progressed = !parser_.in_message();
}

void session::on_close(std::uint16_t code, std::string_view) {
  if (closing_) {
    conn_.close();  // our close was answered
    return;
  }
  // Echo the peer's close (RFC 6455 §5.5.1), then end the TCP connection.
  note_end(end_reason::client_closed);
  closing_ = true;
  conn_.send(code == static_cast<std::uint16_t>(close_code::no_status)
                 ? make_frame(opcode::close, {})
                 : make_close_frame(static_cast<close_code>(code), {}));
  conn_.close_after_flush();
}

close_code session::on_compressed(opcode op, std::string_view payload) {
  if (closing_) {
    return close_code::none;
  }
  in_->progressed = true;
  auto& in = ctx_.decompressor();
  auto& d = *deflate();
  auto* window = d.params.client_no_context_takeover ? nullptr : &d.window;
  switch (in.inflate(payload, window, d.params.client_window_bits)) {
    case inflate_status::ok:
      break;
    case inflate_status::too_big:
      close_with(close_code::too_big, close_reason(close_code::too_big));
      return close_code::too_big;
    case inflate_status::bad_data:
      // RFC 7692 §8 only says to fail the connection; the payload, not the framing, is bad.
      close_with(close_code::invalid_payload, "invalid compressed data");
      return close_code::invalid_payload;
  }
  auto text = in.text();
  if (op == opcode::binary) {
    on_binary(text);
  } else if (!is_valid_utf8(text)) {
    close_with(close_code::invalid_payload, close_reason(close_code::invalid_payload));
    return close_code::invalid_payload;
  } else {
    on_text(text);
  }
  return close_code::none;
}

void session::handle(client_op& op) {
  if (op.kind != op_kind::ping && !is_valid_topic(op.topic)) {
    fail_op(op.ref, "invalid_topic", "invalid topic name");
    return;
  }
  switch (op.kind) {
    case op_kind::subscribe:
      subscribe(op);
      break;
    case op_kind::unsubscribe:
      unsubscribe(op);
      break;
    case op_kind::publish:
      publish(op);
      break;
    case op_kind::presence_join:
      join(op);
      break;
    case op_kind::presence_update:
      update(op);
      break;
    case op_kind::presence_leave:
      leave(op);
      break;
    case op_kind::ping:
      reply(pong_frame(op.ref));
      break;
  }
}

std::weak_ptr<bool> session::guard() {
  auto& alive = rare().alive;
  if (!alive) {
    alive = std::make_shared<bool>(true);
  }
  return alive;
}

session::topic_state* session::find(std::string_view topic) {
  // Every topic_state is linked in the registry (subscribed right after ensure()), so its name is
  // the registry's.
  topic_state* found = nullptr;
  for_each_topic([&](topic_state& t) {
    if (!found && t.subscribed() && t.topic() == topic) {
      found = &t;
    }
  });
  return found;
}

session::topic_state::topic_state() = default;

session::topic_state& session::ensure(std::string_view topic) {
  if (auto* t = find(topic)) {
    return *t;
  }
  auto& t =
      first_ ? *rare().more_topics.emplace_back(std::make_unique<topic_state>()) : first_.emplace();
  t.set_owner(*this);
  t.policy = ctx_.subscribers.policies.policy_for(topic);
  return t;
}

void session::drop_if_unused(topic_state& t) {
  if (t.wants_messages || t.joined) {
    return;
  }
  queue_.forget(t);
  ctx_.registry.unsubscribe(t);
  if (first_ && &*first_ == &t) {
    first_.reset();
  } else if (rare_) {
    std::erase_if(rare_->more_topics, [&](const auto& p) { return p.get() == &t; });
    trim_rare();
  }
}

bool session::allowed(bool ok, const boost::json::value& ref, std::string_view what) {
  if (!ok) {
    fail_op(ref, who_->anonymous ? "unauthorized" : "forbidden",
            std::string(who_->anonymous ? "credentials required to " : "this token may not ") +
                std::string(what));
  }
  return ok;
}

void session::subscribe(client_op& op) {
  if (!allowed(who_->grants.can_subscribe(op.topic), op.ref, "subscribe to " + op.topic)) {
    return;
  }
  auto* existing = find(op.topic);
  if (existing && existing->wants_messages) {
    reply(ack_frame(op.ref));  // already subscribed
    return;
  }
  if (!existing && topic_count() >= ctx_.config.max_topics) {
    fail_op(op.ref, "too_many_topics", "this connection holds the most topics it may");
    return;
  }
  std::optional<position> since;
  if (op.since) {
    ctx_.counters.ws.resumes.add();
    since = parse_position(*op.since);
    if (!since) {
      since = position{0, 0};  // not an id we wrote: the client is told it has a gap
    }
  }
  auto& t = ensure(op.topic);
  t.wants_messages = true;
  queue_.enroll(t);
  subscriber_queue::begin_attach(t);
  reply(ack_frame(op.ref));
  // The registry drops the answer if `t` is gone by then (an asynchronous broker).
  auto on_attach = [this, &t](attach_result r) {
    if (r.unavailable) {
      // History could not be read in time: the client comes back and resubscribes with since,
      // rather than being told of a gap history may not have.
      close_with(close_code::try_again_later, "history unavailable: reconnect and resubscribe");
      return;
    }
    send_due_snapshot(t);  // a join's, when this answer replaced its attach
    if (!t.wants_messages) {
      // Unsubscribed before the answer but still joined (linked for presence): take the position
      // and send nothing of the topic's messages.
      act(t, nullptr, queue_.attached(t, r.head, {}, conn_.queued_bytes()));
      return;
    }
    if (r.gap) {
      std::string lost[] = {t.topic()};
      ctx_.counters.ws.gaps.add();
      reply(gap_frame(lost));
    }
    if (r.retained) {
      emit(t, r.retained);
    }
    act(t, nullptr, queue_.attached(t, r.head, std::move(r.missed), conn_.queued_bytes()));
    pump();
  };
  if (t.subscribed()) {
    ctx_.registry.resume(t, since, on_attach);  // joined before: linked already, now wants messages
  } else {
    ctx_.registry.subscribe(t, op.topic, since, on_attach);
  }
}

void session::unsubscribe(client_op& op) {
  if (auto* t = find(op.topic)) {
    t->wants_messages = false;
    queue_.withdraw(*t);
    drop_if_unused(*t);
  }
  reply(ack_frame(op.ref));
}

void session::publish(client_op& op) {
  if (!allowed(who_->grants.can_publish(op.topic), op.ref, "publish to " + op.topic)) {
    return;
  }
  publish_item item{std::move(op.topic), std::move(op.event), std::move(op.data), false,
                    identity()};
  switch (check_publish(item, ctx_.messages.max_message_bytes)) {
    case publish_fault::none:
    case publish_fault::invalid_topic:  // handle() answered it already
      break;
    case publish_fault::data_too_large:
      fail_op(op.ref, "payload_too_large", "data is larger than max_message_bytes");
      return;
    case publish_fault::data_not_utf8:  // not reached: the frame and JSON parsers checked it
      fail_op(op.ref, "bad_field", "data must be UTF-8");
      return;
    case publish_fault::bad_event:
      fail_op(op.ref, "bad_field", "event must be one line of at most 256 bytes");
      return;
  }
  auto now = clock::now();
  auto& p = publisher();
  if (op.is_volatile) {
    if (!p.volatile_tokens.take(ctx_.config.volatile_rate, ctx_.config.volatile_rate, now)) {
      close_with(close_code::policy, "volatile message rate limit");
      return;
    }
    publish_volatile(std::move(item));
    if (!op.ref.is_null()) {
      reply(ack_frame(op.ref));
    }
    return;
  }
  if (!p.publish_tokens.take(ctx_.config.publish_rate, ctx_.config.publish_burst, now)) {
    close_with(close_code::policy, "publish rate limit");
    return;
  }
  item.idempotency_key = std::move(op.idem);
  std::vector<publish_item> items;
  items.push_back(std::move(item));
  auto ref = std::move(op.ref);
  auto& counters = ctx_.counters;
  ctx_.hub.publish(std::move(items), [this, alive = guard(), ref = std::move(ref), &counters,
                                      start = steady_now_ns()](result<std::vector<position>> r) {
    if (!alive.lock()) {
      return;  // the session is gone: a Redis acknowledgement can arrive after it
    }
    if (!r) {
      fail_op(ref, "publish_failed", r.error().message());
      return;
    }
    counters.ws.published.add();
    if (!ref.is_null()) {
      reply(ack_frame(ref, to_string(r->front())));
    }
    counters.publish_duration.observe_since(start, steady_now_ns());
  });
}

void session::publish_volatile(publish_item item) {
  // Latest wins: at most volatile_hz messages per topic per second leave this connection; what
  // arrives in between replaces what waits, so the last value sent is always the last seen.
  auto now = clock::now();
  auto& p = publisher();
  auto& slot = p.volatile_slots[item.topic];
  if (!slot.pending && volatile_may_send(slot, now)) {
    send_volatile(std::move(item));
    return;
  }
  slot.pending = std::move(item);
  if (!p.volatile_timer.scheduled()) {
    schedule_volatile_flush(slot.next_allowed - volatile_tolerance(), now);
  }
}

// The pacing is a virtual schedule (GCRA): `next_allowed` advances one period per message sent,
// from where it was rather than from when the message left, and a message up to half a period
// early conforms. A sender moving a cursor at exactly volatile_hz then passes untouched despite
// its own jitter and the wheel's 10 ms ticks, instead of being held nearly a period each time and
// losing one message in six to coalescing; over any second at most volatile_hz + 1 leave.
bool session::volatile_may_send(volatile_slot& slot, time_point now) const {
  if (now + volatile_tolerance() < slot.next_allowed) {
    return false;
  }
  slot.next_allowed = std::max(slot.next_allowed, now) + volatile_period();
  return true;
}

std::chrono::microseconds session::volatile_period() const {
  return std::chrono::microseconds(1000000 / std::max(1u, ctx_.config.volatile_hz));
}

std::chrono::microseconds session::volatile_tolerance() const {
  return volatile_period() / 2;
}

void session::schedule_volatile_flush(time_point due, time_point now) {
  auto delay = std::chrono::ceil<std::chrono::milliseconds>(due - now);
  conn_.owner().wheel().schedule(publisher().volatile_timer,
                                 std::max(delay, std::chrono::milliseconds(1)));
}

void session::send_volatile(publish_item item) {
  auto m = make_message(message_kind::volatile_, std::move(item), unix_ms());
  if (ctx_.encode) {
    ctx_.encode(*m);
  }
  ctx_.hub.broadcast(std::move(m));
}

void session::flush_volatile() {
  if (closing_ || !rare_ || !rare_->publisher) {
    return;
  }
  auto& volatile_ = rare_->publisher->volatile_slots;
  auto now = clock::now();
  std::optional<time_point> next;
  for (auto it = volatile_.begin(); it != volatile_.end();) {
    auto& slot = it->second;
    if (slot.pending && volatile_may_send(slot, now)) {
      send_volatile(std::move(*slot.pending));
      slot.pending.reset();
    }
    if (slot.pending) {
      auto due = slot.next_allowed - volatile_tolerance();
      next = next ? std::min(*next, due) : due;
    }
    // A slot whose window has passed with nothing waiting holds nothing worth keeping.
    it = (!slot.pending && now >= slot.next_allowed) ? volatile_.erase(it) : std::next(it);
  }
  if (next) {
    schedule_volatile_flush(*next, now);
  }
}

void session::join(client_op& op) {
  if (!allowed(who_->grants.can_subscribe(op.topic), op.ref, "join " + op.topic)) {
    return;
  }
  auto* existing = find(op.topic);
  if (!existing && topic_count() >= ctx_.config.max_topics) {
    fail_op(op.ref, "too_many_topics", "this connection holds the most topics it may");
    return;
  }
  auto& t = ensure(op.topic);
  t.joined = true;
  // The page is taken with the join, atomically: of N concurrent joins on any loops, each sees its
  // own count. It is sent when the topic's attach is answered at once (one node); an attach
  // answered later (Redis) sends a fresh page then, holding the other nodes' members.
  auto page = ctx_.presence.join(op.topic, identity(), std::move(op.state),
                                 ctx_.config.presence_snapshot_limit);
  reply(ack_frame(op.ref));
  if (!t.subscribed()) {
    // Presence diffs travel on the topic, so a member that does not subscribe still listens.
    subscriber_queue::begin_attach(t);
    ctx_.registry.subscribe(t, op.topic, std::nullopt, [this, &t](attach_result r) {
      act(t, nullptr, queue_.attached(t, r.head, {}, conn_.queued_bytes()));
      send_due_snapshot(t);  // due only when the answer came after this join returned
    });
    if (t.attached) {
      reply(presence_snapshot_frame(op.topic, page));
    } else {
      t.snapshot_due = true;
    }
  } else if (!t.attached) {
    t.snapshot_due = true;  // the subscribe's attach sends it
  } else {
    reply(presence_snapshot_frame(op.topic, page));
  }
}

void session::send_due_snapshot(topic_state& t) {
  if (!t.snapshot_due) {
    return;
  }
  t.snapshot_due = false;
  if (t.joined) {
    reply(presence_snapshot_frame(
        t.topic(), ctx_.presence.page(t.topic(), "", ctx_.config.presence_snapshot_limit)));
  }
}

void session::update(client_op& op) {
  auto* t = find(op.topic);
  if (!t || !t->joined || !ctx_.presence.update(op.topic, identity(), std::move(op.state))) {
    fail_op(op.ref, "not_joined", "join the topic's presence first");
    return;
  }
  reply(ack_frame(op.ref));
}

void session::leave(client_op& op) {
  if (auto* t = find(op.topic); t && t->joined) {
    t->joined = false;
    ctx_.presence.leave(op.topic, identity());
    drop_if_unused(*t);
  }
  reply(ack_frame(op.ref));
}

void session::on_message(subscription& s, const message_ptr& m) {
  if (closing_) {
    return;
  }
  auto& t = static_cast<topic_state&>(s);
  if (m->kind == message_kind::presence) {
    if (!t.joined && !t.wants_messages) {
      return;
    }
  } else if (!t.wants_messages) {
    return;
  } else if (m->kind == message_kind::volatile_) {
    if (m->from == identity()) {
      return;  // a cursor does not need to see itself move
    }
  }
  auto v = queue_.offer(t, m, conn_.queued_bytes());
  if (v.write_only()) [[likely]] {
    emit(t, m);  // the fan-out fast path: no call through act()
    return;
  }
  act(t, m, v);
}

void session::act(topic_state& t, const message_ptr& m, const delivery_verdict& v) {
  if (v.gap) {
    std::string lost[] = {t.topic()};
    ctx_.counters.ws.gaps.add();
    reply(gap_frame(lost));  // the topic's history was lost under us (epoch changed)
  }
  if (v.dropped) {
    ctx_.counters.ws.drops.add();
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

void session::emit(topic_state& t, const message_ptr& m) {
  if (!m) {
    std::string lost[] = {t.topic()};
    ctx_.counters.ws.gaps.add();
    reply(gap_frame(lost));  // the `drop` policy dropped messages of this topic
    return;
  }
  auto& memo = ctx_.last_frame;
  if (memo.m != m) {
    memo.frame = frame_of(*m);
    memo.m = m;
  }
  const auto& frame = deflate() ? deflated(m, memo.frame) : memo.frame;
  conn_.send({frame, *frame});
  ctx_.counters.ws.deliveries.add();
  if (auto* t = tally()) {
    t->sent(frame->size(), true);
  }
}

const bytes_ptr& session::deflated(const message_ptr& m, const bytes_ptr& plain) {
  auto& memo = ctx_.last_deflated;
  if (memo.m == m) {
    return memo.frame;
  }
  memo.m = m;
  if (plain->size() - payload_offset(*plain) < ctx_.config.deflate.min_bytes) {
    memo.frame = plain;
  } else if (auto shared = m->ws_deflated()) {
    memo.frame = std::move(shared);  // another loop compressed it
  } else {
    auto c = ctx_.compressor().compress_frame(*plain);
    // A frame that does not shrink is shared as it is: no loop tries again.
    memo.frame =
        m->share_ws_deflated(c ? std::make_shared<const std::string>(std::move(*c)) : plain);
  }
  return memo.frame;
}

void session::pump() {
  while (!closing_) {
    auto e = queue_.next(conn_.queued_bytes());
    if (!e) {
      break;
    }
    emit(static_cast<topic_state&>(*e->sub), e->m);
  }
}

void session::on_sent() {
  if (input_paused_ && conn_.queued_bytes() < ctx_.subscribers.high_water()) {
    input_paused_ = false;
    conn_.wait_readable();
  }
  pump();
}

void session::reply(std::string frame) {
  if (!closing_) {
    if (deflate() && frame.size() - payload_offset(frame) >= ctx_.config.deflate.min_bytes) {
      // A reply is this connection's alone (a presence snapshot can be long): compressed here.
      if (auto c = ctx_.compressor().compress_frame(frame)) {
        frame = std::move(*c);
      }
    }
    if (auto* t = tally()) {
      t->sent(frame.size(), false);
    }
    conn_.send(std::move(frame));
  }
}

void session::fail_op(const boost::json::value& ref, std::string_view code,
                      std::string_view message) {
  reply(error_frame(ref, code, message));
}

void session::on_timer() {
  if (closing_) {
    return;
  }
  // A subscriber stuck over the soft bound on a quiet topic is judged here, between messages.
  if (queue_.judge(conn_.queued_bytes()).act == delivery_verdict::action::close) {
    close_slow();
    return;
  }
  if (!heard_since_ping_) {
    close_with(close_code::going_away, "no answer to ping");
    return;
  }
  heard_since_ping_ = false;
  conn_.send(make_frame(opcode::ping, {}));
  conn_.set_beat(ctx_.config.ping_interval);
}

void session::close_with(close_code code, std::string_view reason) {
  if (closing_) {
    return;
  }
  closing_ = true;
  note_end(code == close_code::going_away        ? end_reason::idle
           : code == close_code::service_restart ? end_reason::drain
           : code == close_code::try_again_later ? end_reason::unavailable
                                                 : end_reason::protocol);
  conn_.send(make_close_frame(code, reason));
  conn_.close_after_flush();
}

void session::close_slow() {
  if (closing_) {
    return;
  }
  closing_ = true;
  note_end(end_reason::slow_consumer);
  ctx_.counters.ws.slow_consumer_closes.add();
  ctx_.counters.ws.drops.add();
  queue_.clear();
  // Deferred: this may run inside the registry's fan-out walk, which must not see lists change
  // under it. The close frame goes ahead of what is queued (the client learns why at once, and
  // resumes with since), but behind a frame already partly written: a frame cannot be cut. A
  // slow reader gets a ping interval to take it, as long as a silent peer is given anyway.
  conn_.close_later(
      make_close_frame(close_code::policy, "slow consumer: resubscribe with since to resume"),
      ctx_.config.ping_interval);
}

void session::on_drain() {
  close_with(close_code::service_restart, "server restarting");
}

void session::on_close() {
  release();
}

void session::release() {
  if (released_) {
    return;
  }
  released_ = true;
  closing_ = true;
  auto topics_count = topic_count();
  auto me = identity();
  for_each_topic([&](topic_state& t) {
    if (t.joined) {
      ctx_.presence.leave(t.topic(), me);  // a dropped connection leaves at once
    }
    ctx_.registry.unsubscribe(t);
  });
  first_.reset();
  if (rare_) {
    rare_->more_topics.clear();
    rare_->publisher.reset();
  }
  queue_.clear();
  ctx_.counters.ws.open.sub();
  auto reason = end_.value_or(end_reason::client_closed);
  ctx_.counters.ws.end(reason);
  auto* t = tally();
  if (t &&
      io::access_log_wanted(reason == end_reason::error || reason == end_reason::slow_consumer)) {
    io::log_stream_end({conn_.transport_name(), topics_count,
                        static_cast<double>(steady_now_ns() - t->started_ns) / 1e9, t->messages,
                        t->bytes, to_string(reason), conn_.peer_text(), who_->grants.subject});
  }
}

}  // namespace sb::ws
