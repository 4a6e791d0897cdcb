#!/usr/bin/env bash
# Bench a generated resource next to items in the same run: in a throwaway clone, generate `notes` with items'
# fields, then run the item and resource scenarios (extra arguments go to `npm run bench`, e.g. --duration 10).
# BENCH_SCOPE=org generates it as an org resource (its rows in an org the reader and the lister each own), so the
# role check's cost shows next to items.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d /tmp/keel-bench-generated-XXXXXX)"
trap 'rm -rf "$work"' EXIT
git clone -q "$repo" "$work/keel"
cd "$work/keel"
cp -al "$repo/node_modules" node_modules
npm run -s new:resource -- notes 'name:string:search:sort' 'description:string{1000}?' 'is_active:boolean=true' --scope "${BENCH_SCOPE:-user}" >/dev/null
# Three rounds in alternating order by default (the last --rounds given wins): one run each was not enough to
# tell a 10 % difference from the drift of the machine.
BENCH_RESOURCE=notes npm run bench -- --only item-get,resource-get,items-list,resource-list --rounds 3 "$@"
mkdir -p "$repo/bench/results" && cp -r bench/results/. "$repo/bench/results/" 2>/dev/null || true
