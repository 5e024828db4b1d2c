#include "auth/tickets.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "auth/ticket_ledger.hpp"

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

/// A ledger whose answers wait until run() (as Redis's come back on a later loop turn), keeping
/// records in a map; `down` answers errc::unavailable.
struct deferred_ledger final : ticket_ledger {
  void put(std::string digest, std::string record, std::chrono::milliseconds ttl,
           put_handler done) override {
    pending.push_back([this, digest = std::move(digest), record = std::move(record), ttl,
                       done = std::move(done)] {
      if (down) {
        done(errc::unavailable);
        return;
      }
      ttls[digest] = ttl;
      auto inserted = records.emplace(digest, record).second;
      done(inserted ? errc::ok : errc::unavailable);
    });
  }
  void take(std::string digest, take_handler done) override {
    pending.push_back([this, digest = std::move(digest), done = std::move(done)] {
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
  void run() {
    while (!pending.empty()) {
      auto f = std::move(pending.front());
      pending.pop_front();
      f();
    }
  }
  std::deque<std::function<void()>> pending;
  std::map<std::string, std::string> records;
  std::map<std::string, std::chrono::milliseconds> ttls;
  bool down = false;
};

struct shared_store {
  fake_clock clock;
  deferred_ledger ledger;
  ticket_store store;
  explicit shared_store(ticket_limits limits = {}) : store(limits, clock.fn()) {
    store.set_ledger(&ledger);
  }
  result<std::string> mint(std::string subject, std::vector<std::string> topics,
                           std::chrono::seconds ttl) {
    std::optional<result<std::string>> out;
    store.mint(std::move(subject), std::move(topics), ttl,
               [&out](result<std::string> r) { out = std::move(r); });
    ledger.run();
    EXPECT_TRUE(out.has_value());
    return *out;
  }
  result<grants> redeem(std::string_view ticket) {
    std::optional<result<grants>> out;
    store.redeem_later(ticket, [&out](result<grants> g) { out = std::move(g); });
    EXPECT_FALSE(out.has_value()) << "a redeem is answered later, never inside the call";
    ledger.run();
    EXPECT_TRUE(out.has_value());
    return *out;
  }
};

TEST(TicketRecord, RoundTripsAndRefusesWhatIsNotOne) {
  auto record = encode_ticket_record("al\"ice\n", {"rooms/42", "user/alice/**"});
  auto g = decode_ticket_record(record);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->subject, "al\"ice\n");
  EXPECT_EQ(g->subscribe, (std::vector<std::string>{"rooms/42", "user/alice/**"}));
  EXPECT_TRUE(g->publish.empty());
  EXPECT_FALSE(g->all);
  EXPECT_FALSE(decode_ticket_record("").has_value());
  EXPECT_FALSE(decode_ticket_record("{\"s\":\"a\",\"t\":[]}").has_value());
  EXPECT_FALSE(decode_ticket_record("{\"s\":\"a\",\"t\":[\"bad//topic\"]}").has_value());
  EXPECT_FALSE(decode_ticket_record("{\"s\":1,\"t\":[\"a\"]}").has_value());
}

TEST(SharedTickets, TheLedgerKeepsTheDigestAndTheGrantsAndGivesThemOnce) {
  shared_store s;
  EXPECT_TRUE(s.store.shared());
  auto ticket = s.mint("alice", {"rooms/42", "user/alice/**"}, 30s);
  ASSERT_TRUE(ticket.has_value()) << ticket.error().message();
  ASSERT_EQ(s.ledger.records.size(), 1u);
  const auto& [digest, record] = *s.ledger.records.begin();
  EXPECT_EQ(digest.size(), 32u);
  EXPECT_EQ(record.find(*ticket), std::string::npos);
  EXPECT_EQ(s.ledger.ttls.begin()->second, 30000ms);
  EXPECT_TRUE(s.store.redeem(*ticket) == std::nullopt) << "nothing of it in this process's memory";

  auto g = s.redeem(*ticket);
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->subject, "alice");
  EXPECT_TRUE(g->can_subscribe("user/alice/inbox"));
  EXPECT_FALSE(g->can_subscribe("rooms/43"));
  EXPECT_FALSE(g->can_publish("rooms/42"));
  auto again = s.redeem(*ticket);
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error(), make_error_code(errc::unauthorized));
  EXPECT_FALSE(ticket_store::well_formed("short"));
  EXPECT_TRUE(ticket_store::well_formed(*ticket));
}

TEST(SharedTickets, AnUnreachableLedgerIsUnavailableNotUnauthorized) {
  shared_store s;
  auto ticket = s.mint("bob", {"t"}, 30s);
  ASSERT_TRUE(ticket.has_value());
  s.ledger.down = true;
  auto minted = s.mint("bob", {"t"}, 30s);
  ASSERT_FALSE(minted.has_value());
  EXPECT_EQ(minted.error(), make_error_code(errc::unavailable));
  auto g = s.redeem(*ticket);
  ASSERT_FALSE(g.has_value());
  EXPECT_EQ(g.error(), make_error_code(errc::unavailable));
  s.ledger.down = false;
  EXPECT_TRUE(s.redeem(*ticket).has_value()) << "the ticket was fine all along";
  EXPECT_EQ(s.store.outstanding(), 1u) << "the failed mint is not counted";
}

TEST(SharedTickets, MaxOutstandingCountsThisNodesMintsUntilTheyExpire) {
  ticket_limits limits;
  limits.max_outstanding = 3;
  shared_store s(limits);
  // Mints waiting for the ledger count: three in flight fill the node.
  std::vector<result<std::string>> answers;
  for (int i = 0; i < 4; ++i) {
    s.store.mint("a", {"t"}, std::chrono::seconds(10 + i),
                 [&answers](result<std::string> r) { answers.push_back(std::move(r)); });
  }
  ASSERT_EQ(answers.size(), 1u) << "the fourth is refused at once";
  EXPECT_EQ(answers[0].error(), make_error_code(errc::rate_limited));
  s.ledger.run();
  ASSERT_EQ(answers.size(), 4u);
  EXPECT_EQ(s.store.outstanding(), 3u);
  // A redeem (here, or on another node) does not free a place: only expiry does.
  ASSERT_TRUE(s.redeem(*answers[1]).has_value());
  EXPECT_EQ(s.mint("a", {"t"}, 30s).error(), make_error_code(errc::rate_limited));
  s.clock.now += 10s;
  EXPECT_TRUE(s.mint("a", {"t"}, 30s).has_value());
  EXPECT_EQ(s.store.outstanding(), 3u);
  EXPECT_EQ(s.mint("a", {}, 30s).error(), make_error_code(errc::invalid_request));
  EXPECT_EQ(s.mint("a", {"bad//t"}, 30s).error(), make_error_code(errc::invalid_topic));
}

}  // namespace
}  // namespace sb::auth
