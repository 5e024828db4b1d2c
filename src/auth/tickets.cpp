#include "auth/tickets.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <boost/json.hpp>
#include <cstring>

#include "auth/ticket_ledger.hpp"
#include "core/base64url.hpp"
#include "core/topic_pattern.hpp"

namespace sb::auth {
namespace {

constexpr std::size_t ticket_random_bytes = 32;
constexpr std::size_t ticket_chars = 43;  // unpadded base64url of 32 bytes

std::optional<std::string> sha256(std::string_view text) {
  std::string out(32, '\0');
  unsigned int len = 0;
  if (EVP_Digest(text.data(), text.size(), reinterpret_cast<unsigned char*>(out.data()), &len,
                 EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::string encode_ticket_record(std::string_view subject, const std::vector<std::string>& topics) {
  boost::json::array t;
  t.reserve(topics.size());
  for (const auto& topic : topics) {
    t.emplace_back(topic);
  }
  return boost::json::serialize(boost::json::object{{"s", subject}, {"t", std::move(t)}});
}

std::optional<grants> decode_ticket_record(std::string_view record) {
  boost::system::error_code ec;
  auto doc = boost::json::parse(record, ec);
  const auto* o = ec ? nullptr : doc.if_object();
  const auto* s = o ? o->if_contains("s") : nullptr;
  const auto* t = o ? o->if_contains("t") : nullptr;
  if (!s || !s->is_string() || !t || !t->is_array() || t->as_array().empty()) {
    return std::nullopt;
  }
  grants g;
  g.subject = s->as_string();
  for (const auto& v : t->as_array()) {
    if (!v.is_string() || !is_valid_topic_pattern(std::string_view(v.as_string()))) {
      return std::nullopt;
    }
    g.subscribe.emplace_back(v.as_string());
  }
  return g;
}

std::size_t ticket_store::digest_hash::operator()(const digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), std::min(sizeof h, d.size()));
  return h;
}

ticket_store::ticket_store(ticket_limits limits, clock_fn clock)
    : limits_(limits), clock_(std::move(clock)) {}

result<ticket_store::fresh> ticket_store::prepare(const std::vector<std::string>& topics,
                                                  std::chrono::seconds ttl) const {
  if (topics.empty() || topics.size() > limits_.max_topics || ttl <= std::chrono::seconds::zero() ||
      ttl > limits_.max_ttl) {
    return errc::invalid_request;
  }
  for (const auto& t : topics) {
    if (!is_valid_topic_pattern(t)) {
      return errc::invalid_topic;
    }
  }
  std::array<unsigned char, ticket_random_bytes> random{};
  if (RAND_bytes(random.data(), static_cast<int>(random.size())) != 1) {
    return errc::unavailable;
  }
  fresh out;
  out.ticket.reserve(ticket_chars);
  append_base64url(out.ticket,
                   std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  auto key = sha256(out.ticket);
  if (!key) {
    return errc::unavailable;
  }
  out.key = std::move(*key);
  return out;
}

result<std::string> ticket_store::mint(std::string subject, std::vector<std::string> topics,
                                       std::chrono::seconds ttl) {
  auto made = prepare(topics, ttl);
  if (!made) {
    return made.error();
  }
  std::lock_guard lock(mutex_);
  auto t = now();
  purge_locked(t);
  if (tickets_.size() >= limits_.max_outstanding) {
    return errc::rate_limited;
  }
  auto expires = t + ttl;
  auto [it, inserted] =
      tickets_.try_emplace(made->key, entry{expires, std::move(subject), std::move(topics)});
  if (!inserted) {
    return errc::unavailable;  // a 256-bit collision: RAND_bytes is broken
  }
  by_expiry_.emplace(expires, made->key);
  return std::move(made->ticket);
}

void ticket_store::mint(std::string subject, std::vector<std::string> topics,
                        std::chrono::seconds ttl, mint_handler done) {
  if (!ledger_) {
    done(mint(std::move(subject), std::move(topics), ttl));
    return;
  }
  auto made = prepare(topics, ttl);
  if (!made) {
    done(made.error());
    return;
  }
  bool full = false;
  {
    std::lock_guard lock(mutex_);
    auto t = now();
    while (!minted_.empty() && minted_.top() <= t) {
      minted_.pop();
    }
    full = minted_.size() + minting_ >= limits_.max_outstanding;
    if (!full) {
      ++minting_;  // counted now, so that mints racing for the last places cannot all pass
    }
  }
  if (full) {
    done(errc::rate_limited);
    return;
  }
  auto record = encode_ticket_record(subject, topics);
  ledger_->put(std::move(made->key), std::move(record), ttl,
               [this, ttl, ticket = std::move(made->ticket), done = std::move(done)](errc e) {
                 {
                   std::lock_guard lock(mutex_);
                   --minting_;
                   if (e == errc::ok) {
                     minted_.push(now() + ttl);
                   }
                 }
                 if (e == errc::ok) {
                   done(ticket);
                 } else {
                   done(e);
                 }
               });
}

bool ticket_store::well_formed(std::string_view ticket) {
  return ticket.size() == ticket_chars;
}

void ticket_store::redeem_later(std::string_view ticket, redeem_handler done) {
  auto key = well_formed(ticket) ? sha256(ticket) : std::nullopt;
  if (!key || !ledger_) {
    done(errc::unauthorized);  // a caller that broke the precondition: answered at once
    return;
  }
  ledger_->take(std::move(*key), [done = std::move(done)](errc e, std::string record) {
    if (e == errc::not_found) {
      done(errc::unauthorized);
      return;
    }
    if (e != errc::ok) {
      done(errc::unavailable);
      return;
    }
    auto g = decode_ticket_record(record);
    if (!g) {
      done(errc::unauthorized);  // not a record of ours: nothing it could grant
      return;
    }
    done(std::move(*g));
  });
}

std::optional<grants> ticket_store::redeem(std::string_view ticket) {
  if (!well_formed(ticket)) {
    return std::nullopt;
  }
  auto key = sha256(ticket);
  if (!key) {
    return std::nullopt;
  }
  std::lock_guard lock(mutex_);
  auto t = now();
  purge_locked(t);
  auto it = tickets_.find(*key);
  if (it == tickets_.end()) {
    return std::nullopt;
  }
  by_expiry_.erase({it->second.expires, it->first});
  auto e = std::move(it->second);
  tickets_.erase(it);
  if (t >= e.expires) {
    return std::nullopt;  // defensive: purge_locked has dropped these already
  }
  grants g;
  g.subject = std::move(e.subject);
  g.subscribe = std::move(e.topics);
  return g;
}

std::size_t ticket_store::outstanding() {
  std::lock_guard lock(mutex_);
  auto t = now();
  purge_locked(t);
  while (!minted_.empty() && minted_.top() <= t) {
    minted_.pop();
  }
  return tickets_.size() + minted_.size() + minting_;
}

void ticket_store::purge_locked(time_point now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    tickets_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

}  // namespace sb::auth
