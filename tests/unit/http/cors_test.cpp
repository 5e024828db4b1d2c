#include "http/cors.hpp"

#include <gtest/gtest.h>

#include <string>
#include <utility>
#include <vector>

namespace sb::http {
namespace {

using headers = std::vector<std::pair<std::string, std::string>>;

/// The value of `name`, or nullptr when absent (and a failure when present twice).
const std::string* find(const headers& h, std::string_view name) {
  const std::string* found = nullptr;
  for (const auto& [n, v] : h) {
    if (n == name) {
      EXPECT_EQ(found, nullptr) << "duplicate " << name;
      found = &v;
    }
  }
  return found;
}

TEST(Cors, ListedOriginIsEchoedWithCredentialsAndVary) {
  cors_policy p({"https://app.example", "https://admin.example"});
  EXPECT_EQ(p.headers_for("https://admin.example"),
            (headers{{"Access-Control-Allow-Origin", "https://admin.example"},
                     {"Access-Control-Allow-Credentials", "true"},
                     {"Vary", "Origin"},
                     {"Access-Control-Expose-Headers", "Content-Type, Location"}}));
}

TEST(Cors, ForeignOriginGetsNothing) {
  cors_policy p({"https://app.example"});
  EXPECT_TRUE(p.headers_for("https://evil.example").empty());
  EXPECT_TRUE(p.headers_for("https://app.example.evil").empty());
  EXPECT_TRUE(p.headers_for("http://app.example").empty());  // scheme is part of the origin
  EXPECT_TRUE(p.headers_for("https://APP.example").empty());
  EXPECT_TRUE(p.headers_for("https://app.example:443").empty());
  EXPECT_TRUE(p.headers_for("null").empty());
}

TEST(Cors, NoOriginGetsNothing) {
  EXPECT_TRUE(cors_policy({"https://app.example"}).headers_for("").empty());
  EXPECT_TRUE(cors_policy({"*"}).headers_for("").empty());
}

TEST(Cors, NothingConfiguredAllowsNoOne) {
  cors_policy p;
  EXPECT_TRUE(p.headers_for("https://app.example").empty());
  EXPECT_TRUE(p.preflight("https://app.example", "").empty());
}

TEST(Cors, StarGivesStarWithoutCredentials) {
  cors_policy p({"*"});
  auto h = p.headers_for("https://anyone.example");
  ASSERT_NE(find(h, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*find(h, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(find(h, "Access-Control-Allow-Credentials"), nullptr);
  EXPECT_EQ(find(h, "Vary"), nullptr);
  ASSERT_NE(find(h, "Access-Control-Expose-Headers"), nullptr);
}

TEST(Cors, StarWithListedOriginsKeepsCredentialsForTheListedOnes) {
  cors_policy p({"https://app.example", "*"});
  auto listed = p.headers_for("https://app.example");
  ASSERT_NE(find(listed, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*find(listed, "Access-Control-Allow-Origin"), "https://app.example");
  ASSERT_NE(find(listed, "Access-Control-Allow-Credentials"), nullptr);
  EXPECT_EQ(*find(listed, "Access-Control-Allow-Credentials"), "true");
  auto other = p.headers_for("https://other.example");
  EXPECT_EQ(*find(other, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(find(other, "Access-Control-Allow-Credentials"), nullptr);
}

TEST(Cors, NeverStarWithCredentialsEvenForALiteralStarOrigin) {
  // A request may carry any Origin bytes; "*" is not an origin and must not be echoed as one
  // together with credentials.
  cors_policy p({"*"});
  EXPECT_EQ(find(p.headers_for("*"), "Access-Control-Allow-Credentials"), nullptr);
  EXPECT_EQ(find(p.preflight("*", ""), "Access-Control-Allow-Credentials"), nullptr);
}

TEST(Cors, PreflightForAListedOrigin) {
  cors_policy p({"https://app.example"});
  EXPECT_EQ(p.preflight("https://app.example", ""),
            (headers{{"Access-Control-Allow-Origin", "https://app.example"},
                     {"Access-Control-Allow-Credentials", "true"},
                     {"Vary", "Origin"},
                     {"Access-Control-Expose-Headers", "Content-Type, Location"},
                     {"Access-Control-Allow-Methods", "GET, POST, OPTIONS"},
                     {"Access-Control-Allow-Headers", "Authorization, Content-Type, Last-Event-ID"},
                     {"Access-Control-Max-Age", "600"}}));
}

TEST(Cors, PreflightEchoesRequestedHeaders) {
  cors_policy p({"https://app.example"});
  auto h = p.preflight("https://app.example", "authorization, x-trace");
  ASSERT_NE(find(h, "Access-Control-Allow-Headers"), nullptr);
  EXPECT_EQ(*find(h, "Access-Control-Allow-Headers"), "authorization, x-trace");
}

TEST(Cors, PreflightWithStar) {
  cors_policy p({"*"});
  auto h = p.preflight("https://anyone.example", "");
  ASSERT_NE(find(h, "Access-Control-Allow-Origin"), nullptr);
  EXPECT_EQ(*find(h, "Access-Control-Allow-Origin"), "*");
  EXPECT_EQ(find(h, "Access-Control-Allow-Credentials"), nullptr);
  ASSERT_NE(find(h, "Access-Control-Allow-Methods"), nullptr);
  EXPECT_EQ(*find(h, "Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
}

TEST(Cors, PreflightForAForeignOrMissingOriginIsEmpty) {
  cors_policy p({"https://app.example"});
  EXPECT_TRUE(p.preflight("https://evil.example", "authorization").empty());
  EXPECT_TRUE(p.preflight("", "").empty());
  EXPECT_TRUE(cors_policy({"*"}).preflight("", "").empty());
}

TEST(Cors, CookieCountsFromNoOriginOurHostOrAListedOrigin) {
  cors_policy p({"https://app.example"});
  EXPECT_TRUE(p.lends_cookie("", "api.example"));  // not a cross-site browser request
  EXPECT_TRUE(p.lends_cookie("https://app.example", "api.example"));       // listed
  EXPECT_TRUE(p.lends_cookie("http://127.0.0.1:8080", "127.0.0.1:8080"));  // same host
  EXPECT_TRUE(p.lends_cookie("https://API.example", "api.example"));       // host names ignore case
  EXPECT_FALSE(p.lends_cookie("https://evil.example", "api.example"));
  EXPECT_FALSE(
      p.lends_cookie("http://127.0.0.1:9090", "127.0.0.1:8080"));  // another port is another origin
  EXPECT_FALSE(p.lends_cookie("null", "api.example"));             // sandboxed or file: pages
  EXPECT_FALSE(p.lends_cookie("https://evil.example", ""));
}

TEST(Cors, AStarNeverLendsTheCookie) {
  cors_policy p({"*"});
  EXPECT_FALSE(p.lends_cookie("https://anyone.example", "api.example"));
  EXPECT_FALSE(p.lends_cookie("*", "api.example"));
}

}  // namespace
}  // namespace sb::http
