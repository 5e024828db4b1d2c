#include "cluster/ticket_ledger.hpp"

#include <gtest/gtest.h>

#include <string>

namespace sb::cluster {
namespace {

TEST(TicketLedger, KeyIsTheDigestInHexHashTagged) {
  std::string digest(32, '\0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    digest[i] = static_cast<char>(i * 8 + 0x0f);
  }
  auto key = ticket_key(digest);
  EXPECT_EQ(key, "sb:ticket:{0f171f272f373f474f575f676f777f878f979fa7afb7bfc7cfd7dfe7eff7ff07}");
  // Never a topic's key: those are sb:{topic}:...
  EXPECT_FALSE(key.starts_with("sb:{"));
}

}  // namespace
}  // namespace sb::cluster
