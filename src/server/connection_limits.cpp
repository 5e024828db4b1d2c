#include "server/connection_limits.hpp"

namespace sb::server {

std::shared_ptr<void> connection_limits::admit(const boost::asio::ip::address& from) {
  {
    std::lock_guard lock(mutex_);
    auto& mine = per_address_[from];
    if (total_ >= max_total_ || mine >= max_per_address_) {
      if (mine == 0) {
        per_address_.erase(from);
      }
      return nullptr;
    }
    ++total_;
    ++mine;
  }
  // The lease's deleter gives the place back; it keeps the limits alive as long as it exists.
  // (It points at the limits so that it tests true: a null lease means "refused".)
  return std::shared_ptr<void>(this, [self = shared_from_this(), from](void*) { self->release(from); });
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
