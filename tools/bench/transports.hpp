// The three client transports the engine drives. Each takes the bytes read from a connection and
// turns them into engine_listener calls; each queues what it sends in client_conn::out (the engine
// writes it).
//   sse_client      GET text/event-stream over HTTP/1.1; one on_data per event
//   sse_h2_client   h2c (prior knowledge): one GET text/event-stream stream per client_conn::subs
//   entry;
//                   one on_stream_data per event
//   ws_client       RFC 6455 client in the target's dialect (switchboard.v1 JSON or raw frames)
//   http_publisher  keep-alive POSTs, pipelined; one on_answer per response
#pragma once

#include <cstddef>
#include <string_view>

namespace bench {

class epoll_engine;
struct client_conn;

namespace sse_client {
void on_connected(epoll_engine& e, client_conn& c);
void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n);
}  // namespace sse_client

namespace sse_h2_client {
void on_connected(epoll_engine& e, client_conn& c);
void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n);
// The connection is gone: ends every stream still open and drops the session.
void on_dead(epoll_engine& e, client_conn& c);
}  // namespace sse_h2_client

namespace ws_client {
void on_connected(epoll_engine& e, client_conn& c);
void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n);
// Queues one publish of `data` on the connection's topic (with a ref when c.track_acks), volatile
// when asked (switchboard.v1 only).
void publish(epoll_engine& e, client_conn& c, std::string_view data, bool is_volatile = false);
}  // namespace ws_client

namespace http_publisher {
void on_connected(epoll_engine& e, client_conn& c);
void on_bytes(epoll_engine& e, client_conn& c, char* p, size_t n);
// Queues one POST of `data` to the connection's target (not flushed: the caller flushes once).
void publish(epoll_engine& e, client_conn& c, std::string_view data);
}  // namespace http_publisher

}  // namespace bench
