#!/usr/bin/env bash
# What `make test` runs after the checks (see README, "Two commands"):
#
#   1. the whole suite (`deno test --doc PERMISSIONS`) once, in a pristine copy of this checkout:
#      a `git clone` of it with the working tree's changes laid over, in a temporary directory
#      with no ../shared beside it, with an empty DENO_DIR and the npm registry unreachable —
#      what a new user's clone has, so no test can lean on the corpus, on a warm cache or on
#      the registry (the npm packages are vendored in node_modules/);
#   2. then, only when ../shared is beside this checkout, the tests that read it (SHARED_TESTS)
#      once more here, where the corpus adds to what they check.
#
# Usage: pristine_test.sh "PERMISSIONS" SHARED_TEST…
set -euo pipefail
cd "$(dirname "$0")/.."
permissions=$1
shift

work=$(mktemp -d /tmp/btblocker-pristine.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work" # as a clone would be: lab programs that drop privileges can read it
if command -v git >/dev/null && git rev-parse --git-dir >/dev/null 2>&1; then
  git clone --quiet --no-hardlinks "$PWD" "$work/btblocker"
  # Uncommitted and untracked (not ignored) files too: the suite tests this working tree.
  git ls-files -z --cached --others --exclude-standard |
    tar --null --ignore-failed-read -T - -cf - 2>/dev/null | tar -xf - -C "$work/btblocker"
else
  cp -a . "$work/btblocker" # not a git checkout (an unpacked archive): copy it as it is
fi
mkdir "$work/deno_dir"
echo "== the suite in a pristine copy ($work/btblocker: no ../shared, empty DENO_DIR, no registry)"
# A failing run ends with stack traces and the failures' names; CI keeps only a log's last lines,
# so a digest of why (each error's first line, the lab's FAILED lines) is printed after them.
set +e
(cd "$work/btblocker" && DENO_DIR="$work/deno_dir" NPM_CONFIG_REGISTRY=http://127.0.0.1:9/ \
  deno test --doc $permissions) 2>&1 | tee "$work/suite.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" -ne 0 ]; then
  echo "== why the suite failed, in short (the first line of each error; the lab's FAILED lines)"
  sed 's/\x1b\[[0-9;]*m//g' "$work/suite.log" | grep -a -E '^error: |\] FAILED: ' |
    cut -c1-600 | tail -n 12
  exit "$status"
fi

if [ -d ../shared/corpus ]; then
  echo "== the tests that read ../shared, with the corpus: $*"
  deno test $permissions "$@"
else
  echo "== ../shared not found: the tests that read it ran without it only ($*)"
fi
