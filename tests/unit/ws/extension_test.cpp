// permessage-deflate negotiation (RFC 7692 §5, §7.1): which offer is taken, what is answered,
// and which offers are declined.
#include "ws/extension.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace sb::ws {
namespace {

std::optional<deflate_params> offer(std::vector<std::string_view> headers,
                                    deflate_settings s = {}) {
  return negotiate_deflate(headers, s);
}

std::string answer(std::vector<std::string_view> headers, deflate_settings s = {}) {
  auto p = offer(std::move(headers), s);
  return p ? deflate_response(*p) : "(declined)";
}

TEST(ws_extension, a_bare_offer_is_answered_with_server_no_context_takeover) {
  EXPECT_EQ(answer({"permessage-deflate"}), "permessage-deflate; server_no_context_takeover");
  auto p = offer({"permessage-deflate"});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->client_window_bits, 15) << "the client may use a 32 KiB window: we keep that much";
  EXPECT_FALSE(p->client_no_context_takeover);
}

TEST(ws_extension, browsers_offer_client_max_window_bits_and_we_shrink_it) {
  // Chromium's and Firefox's offer.
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
  EXPECT_EQ(offer({"permessage-deflate; client_max_window_bits"})->client_window_bits, 12);
  // A value under ours is kept; a value over it is lowered.
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits=10"}),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits=\"15\""}),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=12");
  deflate_settings wide;
  wide.client_window_bits = 15;
  EXPECT_EQ(answer({"permessage-deflate; client_max_window_bits"}, wide),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=15");
}

TEST(ws_extension, client_no_context_takeover_is_honoured_and_can_be_asked_for) {
  auto p = offer({"permessage-deflate; client_no_context_takeover"});
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->client_no_context_takeover);
  EXPECT_EQ(deflate_response(*p),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
  deflate_settings none;
  none.client_context_takeover = false;
  EXPECT_EQ(answer({"permessage-deflate"}, none),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(ws_extension, server_parameters_we_can_honour_are_accepted) {
  EXPECT_EQ(answer({"permessage-deflate; server_no_context_takeover"}),
            "permessage-deflate; server_no_context_takeover");
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=15"}),
            "permessage-deflate; server_no_context_takeover; server_max_window_bits=15");
  // Names in any case, spaces around separators (node ws writes "a; b=1").
  EXPECT_EQ(answer({"Permessage-Deflate ;Client_Max_Window_Bits = 9 ; SERVER_NO_CONTEXT_TAKEOVER"}),
            "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
}

TEST(ws_extension, offers_we_cannot_honour_are_declined_and_the_next_one_taken) {
  // A smaller server window than the one we compress with (once, for everyone): declined, and
  // the client's fallback offer is taken.
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=10, permessage-deflate"}),
            "permessage-deflate; server_no_context_takeover");
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=10"}), "(declined)");
  EXPECT_EQ(answer({"permessage-deflate; server_max_window_bits=8"}), "(declined)");
  // Offers may come in several header lines; other extensions are skipped.
  EXPECT_EQ(answer({"x-webkit-deflate-frame",
                    "foo; bar=1, permessage-deflate; client_no_context_takeover"}),
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
}

TEST(ws_extension, malformed_offers_are_declined) {
  for (std::string_view bad : {
           "permessage-deflate; unknown_param",
           "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
           "permessage-deflate; client_max_window_bits; client_max_window_bits=10",
           "permessage-deflate; server_no_context_takeover=1",
           "permessage-deflate; client_no_context_takeover=true",
           "permessage-deflate; server_max_window_bits",
           "permessage-deflate; client_max_window_bits=7",
           "permessage-deflate; client_max_window_bits=16",
           "permessage-deflate; client_max_window_bits=010",
           "permessage-deflate; client_max_window_bits=+9",
           "permessage-deflate; client_max_window_bits=\"1 0\"",
           "permessage-deflate; client_max_window_bits=\"10",
           "permessage-deflate;",
       }) {
    EXPECT_EQ(answer({bad}), "(declined)") << bad;
  }
  EXPECT_EQ(answer({""}), "(declined)");
  EXPECT_EQ(answer({}), "(declined)");
}

TEST(ws_extension, turned_off_nothing_is_negotiated) {
  deflate_settings off;
  off.enabled = false;
  EXPECT_EQ(answer({"permessage-deflate"}, off), "(declined)");
}

}  // namespace
}  // namespace sb::ws
