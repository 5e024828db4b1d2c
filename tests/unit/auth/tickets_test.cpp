#include "auth/tickets.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <set>
#include <thread>
#include <vector>

namespace sb::auth {
namespace {

using namespace std::chrono_literals;

struct fake_clock {
  std::chrono::steady_clock::time_point now{std::chrono::hours(1000)};
  ticket_store::clock_fn fn() {
    return [this] { return now; };
  }
};

TEST(Tickets, RedeemsOnceWithTheMintedGrants) {
  fake_clock clock;
  ticket_store store({}, clock.fn());
  auto ticket = store.mint("alice", {"rooms/42", "user/alice/**"}, 30s);
  ASSERT_TRUE(ticket.has_value()) << ticket.error().message();
  EXPECT_EQ(ticket->size(), 43u);
  EXPECT_EQ(store.outstanding(), 1u);

  auto g = store.redeem(*ticket);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->subject, "alice");
  EXPECT_FALSE(g->all);
  EXPECT_TRUE(g->can_subscribe("rooms/42"));
  EXPECT_TRUE(g->can_subscribe("user/alice/inbox"));
  EXPECT_FALSE(g->can_subscribe("rooms/43"));
  EXPECT_FALSE(g->can_publish("rooms/42"));

  EXPECT_FALSE(store.redeem(*ticket).has_value());
  EXPECT_EQ(store.outstanding(), 0u);
}

TEST(Tickets, ExpireAfterTheirTtl) {
  fake_clock clock;
  ticket_store store({}, clock.fn());
  auto short_lived = store.mint("a", {"t"}, 10s);
  auto longer = store.mint("b", {"t"}, 60s);
  ASSERT_TRUE(short_lived && longer);
  clock.now += 9s;
  EXPECT_EQ(store.outstanding(), 2u);
  clock.now += 1s;
  EXPECT_EQ(store.outstanding(), 1u);  // purged at its expiry
  EXPECT_FALSE(store.redeem(*short_lived).has_value());
  clock.now += 49s;
  auto g = store.redeem(*longer);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->subject, "b");
}

TEST(Tickets, UnknownAndMalformedTicketsAreRefused) {
  ticket_store store;
  ASSERT_TRUE(store.mint("a", {"t"}, 30s).has_value());
  EXPECT_FALSE(store.redeem("").has_value());
  EXPECT_FALSE(store.redeem("short").has_value());
  EXPECT_FALSE(store.redeem(std::string(43, 'A')).has_value());
  EXPECT_FALSE(store.redeem(std::string(10000, 'A')).has_value());
  EXPECT_EQ(store.outstanding(), 1u);
}

TEST(Tickets, AreRandomAndUrlSafe) {
  ticket_store store;
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    auto t = store.mint("a", {"t"}, 30s);
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(
        t->find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
        std::string::npos);
    EXPECT_TRUE(seen.insert(*t).second);
  }
}

TEST(Tickets, MintValidatesItsInput) {
  ticket_limits limits;
  limits.max_topics = 2;
  ticket_store store(limits);
  EXPECT_EQ(store.mint("a", {}, 30s).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(store.mint("a", {"a", "b", "c"}, 30s).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(store.mint("a", {"t"}, 0s).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(store.mint("a", {"t"}, -5s).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(store.mint("a", {"t"}, 2h).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(store.mint("a", {"a//b"}, 30s).error(), make_error_code(errc::invalid_topic));
  EXPECT_EQ(store.mint("a", {"ok", "no spaces"}, 30s).error(),
            make_error_code(errc::invalid_topic));
  EXPECT_TRUE(store.mint("a", {"rooms/*", "x/**"}, 30s).has_value());
  EXPECT_EQ(store.outstanding(), 1u);
}

TEST(Tickets, CapsOutstandingTicketsUntilSomeExpire) {
  fake_clock clock;
  ticket_limits limits;
  limits.max_outstanding = 3;
  ticket_store store(limits, clock.fn());
  std::vector<std::string> tickets;
  for (int i = 0; i < 3; ++i) {
    auto t = store.mint("a", {"t"}, std::chrono::seconds(10 + i));
    ASSERT_TRUE(t.has_value());
    tickets.push_back(*t);
  }
  auto refused = store.mint("a", {"t"}, 30s);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error(), make_error_code(errc::rate_limited));
  ASSERT_TRUE(store.redeem(tickets[2]).has_value());  // redeeming frees a slot
  ASSERT_TRUE(store.mint("a", {"t"}, 30s).has_value());
  EXPECT_FALSE(store.mint("a", {"t"}, 30s).has_value());
  clock.now += 10s;  // the first expires
  EXPECT_TRUE(store.mint("a", {"t"}, 30s).has_value());
  EXPECT_EQ(store.outstanding(), 3u);
}

TEST(Tickets, EachTicketRedeemsExactlyOnceAcrossThreads) {
  ticket_store store;
  std::vector<std::string> tickets;
  for (int i = 0; i < 500; ++i) {
    tickets.push_back(*store.mint("s", {"t"}, 60s));
  }
  std::atomic<int> redeemed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (const auto& ticket : tickets) {
        if (store.redeem(ticket)) {
          ++redeemed;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(redeemed, 500);
  EXPECT_EQ(store.outstanding(), 0u);
}

}  // namespace
}  // namespace sb::auth
