#pragma once
// What an API handler sees of a request, and how it answers.
#include <boost/beast/http/fields.hpp>
#include <boost/url/url_view.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "auth/authority.hpp"
#include "http/response.hpp"

namespace sb::http::api {

struct request {
  std::string_view method;
  boost::urls::url_view url;
  const boost::beast::http::fields& headers;
  std::string_view body;
  std::string topic;          // the topic a /v1/topics/... path names (not yet validated)
  const auth::identity& who;  // who is asking
  const std::string& client;  // who is asking, as a rate-limit key

  /// The first value of query parameter `key`, decoded.
  std::optional<std::string> query(std::string_view key) const;
  /// True when query parameter `key` is "1" or "true".
  bool query_flag(std::string_view key) const;
};

/// The answer to a caller that may not do what it asked: 401 (with WWW-Authenticate) for an
/// anonymous caller, 403 for a known one.
response refusal(const auth::identity& who, std::string_view detail);

/// The answer to credentials that did not hold: 401 with WWW-Authenticate.
response unauthorized(std::string_view why);

/// The answer to a read of `req.topic` (history, presence) that may not go ahead: 400 for an
/// invalid name, 401/403 when the caller may not subscribe to it; nullopt when it may.
std::optional<response> refuse_topic_read(const request& req);

/// Handlers answer exactly once, possibly after returning (asynchronous brokers).
using respond_fn = std::function<void(response)>;

}  // namespace sb::http::api
