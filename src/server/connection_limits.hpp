#pragma once
// Caps on open connections, in all and per client address (docs/api.md "Limits and bad
// input"). An admitted connection holds the limits as its lease; the count goes down when the
// connection is destroyed, however it ends.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "io/connection.hpp"

namespace sb::server {

/// max_connections and max_connections_per_ip.
struct connection_settings {
  std::uint64_t max_connections = 100000;  // capped by the open-file limit (connection_budget)
  std::uint64_t max_connections_per_ip = 10000;
};

class connection_limits final : public io::admission {
 public:
  connection_limits(std::uint64_t max_total, std::uint64_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  /// Takes a place for a new connection from `from`; false when a cap is reached. An admitted
  /// connection must hold these limits (io::connection::hold) to give the place back.
  bool admit(const boost::asio::ip::address& from);

  void release(const boost::asio::ip::address& from) override;

 private:
  std::uint64_t max_total_;
  std::uint64_t max_per_address_;
  std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::unordered_map<boost::asio::ip::address, std::uint64_t> per_address_;
};

}  // namespace sb::server
