#include "server/connection_limits.hpp"

namespace sb::server {

bool connection_limits::admit(const boost::asio::ip::address& from) {
  {
    std::lock_guard lock(mutex_);
    auto& mine = per_address_[from];
    if (total_ >= max_total_ || mine >= max_per_address_) {
      if (mine == 0) {
        per_address_.erase(from);
      }
      return false;
    }
    ++total_;
    ++mine;
  }
  return true;
}

void connection_limits::release(const boost::asio::ip::address& from) {
  std::lock_guard lock(mutex_);
  --total_;
  auto it = per_address_.find(from);
  if (it != per_address_.end() && --it->second == 0) {
    per_address_.erase(it);
  }
}

}  // namespace sb::server
