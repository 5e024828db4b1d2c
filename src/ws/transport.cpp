#include "ws/transport.hpp"

#include <boost/asio/post.hpp>

#include "io/access_log.hpp"

namespace sb::ws {

void connection_transport::close_later(std::string last, duration linger) {
  boost::asio::post(conn_.owner().context(),
                    [c = conn_.ref(), last = std::move(last), linger]() mutable {
                      if (c->is_open()) {
                        c->discard_unsent();
                        c->send(std::move(last));
                        c->close_after_flush(linger);
                      }
                    });
}

std::string connection_transport::peer_text() const {
  return io::endpoint_text(conn_.peer());
}

}  // namespace sb::ws
