// Requests that carry a ticket while tickets live in a shared ledger (broker = redis): the redeem
// is answered later on the loop, as Redis's reply would be. The HTTP/1.1 session waits for it
// without holding the loop (other connections are served meanwhile), keeps pipelined requests in
// order, drops an answer for a connection that went away, and answers 503 (not 401) when the
// ledger cannot be reached. The whole stack runs in process (tests/support/in_process_server.hpp).
#include <gtest/gtest.h>

#include <boost/asio/post.hpp>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>

#include "../../support/in_process_server.hpp"
#include "auth/ticket_ledger.hpp"

namespace sb {
namespace {

using namespace std::chrono_literals;

/// Keeps records in a map; every answer waits until release() posts it to the loop.
struct held_ledger final : auth::ticket_ledger {
  explicit held_ledger(boost::asio::io_context& loop) : loop_(loop) {}

  void put(std::string digest, std::string record, std::chrono::milliseconds,
           put_handler done) override {
    held.push_back(
        [this, digest = std::move(digest), record = std::move(record), done = std::move(done)] {
          records[digest] = record;
          done(down ? errc::unavailable : errc::ok);
        });
  }
  void take(std::string digest, take_handler done) override {
    ++takes;
    held.push_back([this, digest = std::move(digest), done = std::move(done)] {
      if (down) {
        done(errc::unavailable, {});
        return;
      }
      auto it = records.find(digest);
      if (it == records.end()) {
        done(errc::not_found, {});
        return;
      }
      auto record = std::move(it->second);
      records.erase(it);
      done(errc::ok, std::move(record));
    });
  }
  /// Posts every held answer to the loop (they run on its next turn).
  void release() {
    while (!held.empty()) {
      boost::asio::post(loop_, std::move(held.front()));
      held.pop_front();
    }
  }

  boost::asio::io_context& loop_;
  std::deque<std::function<void()>> held;
  std::map<std::string, std::string> records;
  int takes = 0;
  bool down = false;
};

class deferred_ticket_test : public ::testing::Test {
 protected:
  deferred_ticket_test() : ledger_(w_.loop.context()) { w_.auth->tickets().set_ledger(&ledger_); }

  std::string mint(std::vector<std::string> topics) {
    std::optional<result<std::string>> out;
    w_.auth->tickets().mint("tess", std::move(topics), 30s,
                            [&out](result<std::string> r) { out = std::move(r); });
    ledger_.release();
    w_.run();
    EXPECT_TRUE(out && *out);
    return out && *out ? **out : std::string();
  }

  testing::in_process_server w_{[](server::config&) {}};
  held_ledger ledger_;
};

TEST_F(deferred_ticket_test, AStreamOpensOnceTheRedeemIsAnsweredAndTheLoopServesMeanwhile) {
  auto ticket = mint({"dt/a"});
  testing::peer_socket peer;
  w_.accept(peer);
  peer.write("GET /v1/events?topic=dt/a&ticket=" + ticket + " HTTP/1.1\r\nHost: t\r\n\r\n");
  w_.run();
  EXPECT_EQ(ledger_.takes, 1);
  EXPECT_EQ(peer.read(), "") << "nothing before the ledger answered";

  auto other = w_.request("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(other.rfind("HTTP/1.1 200 ", 0), 0u) << other;

  ledger_.release();
  w_.run();
  auto head = peer.read();
  EXPECT_EQ(head.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << head;
  EXPECT_NE(head.find("text/event-stream"), std::string::npos);
  ASSERT_FALSE(w_.publish("dt/a", "hello").empty());
  w_.run();
  EXPECT_NE(peer.read().find("data: hello\n"), std::string::npos);

  // Used up: the second redeem is 401 invalid_token.
  testing::peer_socket again;
  w_.accept(again);
  again.write("GET /v1/events?topic=dt/a&ticket=" + ticket + " HTTP/1.1\r\nHost: t\r\n\r\n");
  w_.run();
  ledger_.release();
  w_.run();
  auto refused = again.read();
  EXPECT_EQ(refused.rfind("HTTP/1.1 401 ", 0), 0u) << refused;
  EXPECT_NE(refused.find("invalid_token"), std::string::npos);
}

TEST_F(deferred_ticket_test, PipelinedRequestsWaitBehindTheRedeemInOrder) {
  auto ticket = mint({"dt/p"});
  testing::peer_socket peer;
  w_.accept(peer);
  peer.write("GET /v1/topics/dt/p/history?ticket=" + ticket +
             " HTTP/1.1\r\nHost: t\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  w_.run();
  EXPECT_EQ(peer.read(), "") << "the pipelined request is not answered before the first";
  ledger_.release();
  w_.run();
  auto both = peer.read();
  auto first = both.find("HTTP/1.1 200 ");
  auto second = both.find("HTTP/1.1 200 ", first + 1);
  ASSERT_EQ(first, 0u) << both;
  ASSERT_NE(second, std::string::npos) << both;
  EXPECT_LT(both.find("\"messages\""), second);
  EXPECT_NE(both.find("ok\n", second), std::string::npos);
}

TEST_F(deferred_ticket_test, ARequestRefusedAfterTheRedeemIsAnsweredOnceAndTheNextFollows) {
  // A ticket grants no admin rights: 403 once the redeem is back; the pipelined publish behind it
  // (its body split over two writes) is then read and answered, once.
  auto ticket = mint({"dt/r"});
  testing::peer_socket peer;
  w_.accept(peer);
  peer.write("GET /v1/topics?ticket=" + ticket +
             " HTTP/1.1\r\nHost: t\r\n\r\n"
             "POST /v1/topics/dt/r HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n\r\nab");
  w_.run();
  ledger_.release();
  w_.run();
  peer.write("cd");
  w_.run();
  auto both = peer.read();
  EXPECT_EQ(both.rfind("HTTP/1.1 403 ", 0), 0u) << both;
  auto second = both.find("HTTP/1.1 201 ");
  EXPECT_NE(second, std::string::npos) << both;
  EXPECT_EQ(both.find("HTTP/1.1 ", second + 1), std::string::npos) << "one answer each: " << both;
}

TEST_F(deferred_ticket_test, AnAnswerForAConnectionThatWentAwayGoesNowhere) {
  auto ticket = mint({"dt/gone"});
  {
    testing::peer_socket peer;
    w_.accept(peer);
    peer.write("GET /v1/events?topic=dt/gone&ticket=" + ticket + " HTTP/1.1\r\nHost: t\r\n\r\n");
    w_.run();
  }  // the client hangs up before the ledger answers
  w_.run();
  ledger_.release();
  w_.run();
  EXPECT_TRUE(ledger_.records.empty()) << "the ticket is spent all the same";
  auto other = w_.request("GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(other.rfind("HTTP/1.1 200 ", 0), 0u) << other;
}

TEST_F(deferred_ticket_test, AnUnreachableLedgerIs503WithRetryAfterAndTheConnectionStays) {
  auto ticket = mint({"dt/down"});
  ledger_.down = true;
  testing::peer_socket peer;
  w_.accept(peer);
  peer.write("GET /v1/events?topic=dt/down&ticket=" + ticket + " HTTP/1.1\r\nHost: t\r\n\r\n");
  w_.run();
  ledger_.release();
  w_.run();
  auto answer = peer.read();
  EXPECT_EQ(answer.rfind("HTTP/1.1 503 ", 0), 0u) << answer;
  EXPECT_NE(answer.find("Retry-After: 1\r\n"), std::string::npos) << answer;
  EXPECT_NE(answer.find("\"unavailable\""), std::string::npos) << answer;

  // Kept alive: the retry on the same connection, once the ledger is back, opens the stream.
  ledger_.down = false;
  peer.write("GET /v1/events?topic=dt/down&ticket=" + ticket + " HTTP/1.1\r\nHost: t\r\n\r\n");
  w_.run();
  ledger_.release();
  w_.run();
  auto retried = peer.read();
  EXPECT_EQ(retried.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << retried;
}

TEST_F(deferred_ticket_test, AMalformedTicketIsRefusedWithoutAskingTheLedger) {
  auto answer = w_.request(
      "GET /v1/events?topic=dt/x&ticket=short HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(answer.rfind("HTTP/1.1 401 ", 0), 0u) << answer;
  EXPECT_EQ(ledger_.takes, 0);
}

}  // namespace
}  // namespace sb
