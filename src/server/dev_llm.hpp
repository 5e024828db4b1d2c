#pragma once
// Dev mode's stand-in for an LLM: streams an answer token by token into a topic through the
// server's own streaming publish endpoint (a chunked POST /v1/topics/{t}/stream over loopback),
// exactly as a backend would pipe a model's output in. Each token is an `event: token`; the
// answer ends with an `event: done`.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace sb::server {

/// Starts one generation on `ctx`; it owns itself until the POST is answered. `api_key`, when
/// not empty, authenticates the POST.
void start_dev_llm(boost::asio::io_context& ctx, boost::asio::ip::tcp::endpoint server,
                   std::string topic, std::string api_key);

}  // namespace sb::server
