// What the access log writes of a request target and of any string: credentials redacted,
// always valid JSON.
#include "io/access_log.hpp"

#include <gtest/gtest.h>

namespace sb::io {
namespace {

TEST(RedactTarget, CredentialParametersAreRedactedOthersKept) {
  EXPECT_EQ(redact_target("/v1/events?topic=a&ticket=abc123&since=1-2"),
            "/v1/events?topic=a&ticket=REDACTED&since=1-2");
  EXPECT_EQ(redact_target("/v1/ws?access_token=x.y.z"), "/v1/ws?access_token=REDACTED");
  EXPECT_EQ(redact_target("/x?token=1&api_key=2&apikey=3&password=4&client_secret=5&sig=6"),
            "/x?token=REDACTED&api_key=REDACTED&apikey=REDACTED&password=REDACTED&client_secret="
            "REDACTED&sig=REDACTED");
  // Names are compared percent-decoded and case-insensitively.
  EXPECT_EQ(redact_target("/x?T%69CKET=abc&Access_Token=def"),
            "/x?T%69CKET=REDACTED&Access_Token=REDACTED");
  EXPECT_EQ(redact_target("/healthz"), "/healthz");
  EXPECT_EQ(redact_target("/healthz?"), "/healthz?");
}

TEST(RedactTarget, JwtShapedValuesAreRedactedUnderAnyName) {
  EXPECT_EQ(redact_target("/x?q=eyJhbGciOiJIUzI1NiJ9.e30.sig&topic=t"), "/x?q=REDACTED&topic=t");
  EXPECT_EQ(redact_target("/x?eyJhbGciOiJIUzI1NiJ9.e30.sig"), "/x?REDACTED");
  EXPECT_EQ(redact_target("/x?q=%65yJhbGci"), "/x?q=REDACTED");
}

TEST(RedactTarget, LongTargetsAreCut) {
  std::string long_path(5000, 'a');
  EXPECT_EQ(redact_target("/" + long_path).size(), 2048u);
}

TEST(AppendJsonString, EscapesAndReplacesBadUtf8) {
  std::string out;
  append_json_string(out, "a\"b\\c\n\x01\x7f");
  EXPECT_EQ(out, R"("a\"b\\c\n\u0001\u007f")");
  out.clear();
  append_json_string(out, "caf\xc3\xa9");
  EXPECT_EQ(out, "\"caf\xc3\xa9\"");
  out.clear();
  append_json_string(out, "bad\xff");
  EXPECT_EQ(out, "\"bad\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace sb::io
