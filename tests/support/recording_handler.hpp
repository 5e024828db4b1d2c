#pragma once
// A connection handler for io tests: keeps whatever the peer sends, until end of stream.
#include <string>

#include "io/connection.hpp"

namespace sb::testing {

class recording_handler final : public io::connection_handler {
 public:
  explicit recording_handler(io::connection& c) : conn_(c) {}
  void on_readable() override {
    char buf[4096];
    boost::system::error_code ec;
    for (;;) {
      auto n = conn_.read_some(buf, sizeof buf, ec);
      if (ec == boost::asio::error::would_block) {
        conn_.wait_readable();
        return;
      }
      if (ec) {
        ended = true;
        conn_.close();
        return;
      }
      got.append(buf, n);
    }
  }
  void on_close() override { closed = true; }

  std::string got;
  bool ended = false;
  bool closed = false;

 private:
  io::connection& conn_;
};

}  // namespace sb::testing
