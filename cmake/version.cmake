# Writes OUT (a .cpp defining sb::server::version and git_revision) at every build, but touches it
# only when the text changes, so an unchanged revision relinks nothing.
execute_process(
  COMMAND git describe --always --dirty --abbrev=10
  WORKING_DIRECTORY ${SRC_DIR}
  OUTPUT_VARIABLE revision
  OUTPUT_STRIP_TRAILING_WHITESPACE
  ERROR_QUIET
  RESULT_VARIABLE failed)
if(failed OR revision STREQUAL "")
  set(revision "unknown")
endif()
set(text "#include \"server/version.hpp\"\n\nnamespace sb::server {\n\nconst std::string_view version = \"${VERSION}\";\nconst std::string_view git_revision = \"${revision}\";\n\n}  // namespace sb::server\n")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
else()
  set(old "")
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
