#include "server/drain.hpp"

namespace sb::server {

void drain_pacer::start(double per_tick) {
  per_tick_ = per_tick;
  loop_.for_each_connection([this](io::connection& c) { left_.push_back(c.weak_ref()); });
  step(per_tick_);
}

void drain_pacer::step(double per_tick) {
  // Fractions accumulate across ticks, so a rate below one per tick is honoured.
  budget_ += per_tick;
  std::size_t n = 0;
  while (n + 1 <= budget_ && !left_.empty()) {
    auto c = left_.back().lock();
    left_.pop_back();
    if (c && c->is_open() && c->handler()) {
      c->handler()->on_drain();
      ++n;
    }
  }
  budget_ -= static_cast<double>(n);
  if (!left_.empty()) {
    timer_.expires_after(drain_settings::tick);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) {
        on_tick();
      }
    });
  }
}

void drain_pacer::on_tick() {
  step(per_tick_);
}

}  // namespace sb::server
