#pragma once
// What an API handler sees of a request, and how it answers.
#include <boost/beast/http/fields.hpp>
#include <boost/url/url_view.hpp>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "http/response.hpp"

namespace sb::http::api {

struct request {
  std::string_view method;
  boost::urls::url_view url;
  const boost::beast::http::fields& headers;
  std::string_view body;
  std::string topic;  // the topic a /v1/topics/... path names (not yet validated)

  /// The first value of query parameter `key`, decoded.
  std::optional<std::string> query(std::string_view key) const;
  /// True when query parameter `key` is "1" or "true".
  bool query_flag(std::string_view key) const;
};

/// Handlers answer exactly once, possibly after returning (asynchronous brokers).
using respond_fn = std::function<void(response)>;

}  // namespace sb::http::api
