#pragma once
// Caps on open connections, in all and per client address (DESIGN.md "limits"). Admission hands
// out a lease that the connection holds; the count goes down when the connection is destroyed,
// however it ends.
#include <boost/asio/ip/address.hpp>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

namespace sb::server {

class connection_limits : public std::enable_shared_from_this<connection_limits> {
 public:
  connection_limits(std::uint64_t max_total, std::uint64_t max_per_address)
      : max_total_(max_total), max_per_address_(max_per_address) {}

  /// A lease for a new connection from `from`, or null when a cap is reached.
  std::shared_ptr<void> admit(const boost::asio::ip::address& from);

 private:
  void release(const boost::asio::ip::address& from);

  std::uint64_t max_total_;
  std::uint64_t max_per_address_;
  std::mutex mutex_;
  std::uint64_t total_ = 0;
  std::unordered_map<boost::asio::ip::address, std::uint64_t> per_address_;
};

}  // namespace sb::server
