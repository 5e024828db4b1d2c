#pragma once
// HTTP publishes per client per second (429 over it): a token bucket per client, where a client is
// its API key, its token subject, or its address. Shared by the loops (a client's connections
// may land on any loop), so it is locked; publishes are far fewer than deliveries.
#include <chrono>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/token_bucket.hpp"

namespace sb::http {

/// http_publish_rate and http_publish_burst.
struct publish_rate {
  double rate = 10000;  // per client (key, subject or address) per second
  double burst = 20000;
};

class publish_limiter {
 public:
  explicit publish_limiter(const publish_rate& r) : rate_(r.rate), burst_(r.burst) {}

  /// Takes `n` tokens for `client`; false when it has not got them (nothing is taken then).
  bool take(const std::string& client, double n = 1);

 private:
  double rate_;
  double burst_;
  std::mutex mutex_;
  std::unordered_map<std::string, token_bucket> buckets_;
};

}  // namespace sb::http
