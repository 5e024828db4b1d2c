#include "auth/tickets.hpp"

#include <openssl/evp.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <cstring>

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

std::size_t ticket_store::digest_hash::operator()(const digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), std::min(sizeof h, d.size()));
  return h;
}

ticket_store::ticket_store(ticket_limits limits, clock_fn clock)
    : limits_(limits), clock_(std::move(clock)) {}

result<std::string> ticket_store::mint(std::string subject, std::vector<std::string> topics,
                                       std::chrono::seconds ttl) {
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
  std::string ticket;
  ticket.reserve(ticket_chars);
  append_base64url(ticket,
                   std::string_view(reinterpret_cast<const char*>(random.data()), random.size()));
  auto key = sha256(ticket);
  if (!key) {
    return errc::unavailable;
  }

  std::lock_guard lock(mutex_);
  auto t = now();
  purge_locked(t);
  if (tickets_.size() >= limits_.max_outstanding) {
    return errc::rate_limited;
  }
  auto expires = t + ttl;
  auto [it, inserted] =
      tickets_.try_emplace(*key, entry{expires, std::move(subject), std::move(topics)});
  if (!inserted) {
    return errc::unavailable;  // a 256-bit collision: RAND_bytes is broken
  }
  by_expiry_.emplace(expires, *key);
  return ticket;
}

std::optional<grants> ticket_store::redeem(std::string_view ticket) {
  if (ticket.size() != ticket_chars) {
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
  purge_locked(now());
  return tickets_.size();
}

void ticket_store::purge_locked(time_point now) {
  while (!by_expiry_.empty() && by_expiry_.begin()->first <= now) {
    tickets_.erase(by_expiry_.begin()->second);
    by_expiry_.erase(by_expiry_.begin());
  }
}

}  // namespace sb::auth
