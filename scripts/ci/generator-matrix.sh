#!/usr/bin/env bash
# The generator end to end, in a throwaway clone of this repository (never in the working tree): generate a matrix of
# resources (every type, `?`, defaults, each flag, ref with each delete rule, --parent), add fields, refuse bad input,
# then lint, type-check, lint the OpenAPI document, run the generated tests and the schema/migration tests on PGlite
# and on PostgreSQL, migrate up → down to zero → up, destroy everything and require a clean tree.
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
pg_base="${CI_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432}"
work="$(mktemp -d /tmp/keel-generator-XXXXXX)"
db="keel_gen_$(date +%s)_$$"
cleanup() {
  psql "$pg_base/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== clone into $work"
git clone -q "$repo" "$work/keel"
cd "$work/keel"
# The clone shares the installed packages (hard links: a real, git-ignored directory, and no download).
cp -al "$repo/node_modules" node_modules
export NODE_OPTIONS="${NODE_OPTIONS:-} --no-deprecation"

clean() {
  local status; status="$(git status --porcelain)"
  if [ -n "$status" ]; then echo "expected a clean tree after $1, got:"; echo "$status"; exit 1; fi
}
# Bad input: exit code 1, exactly one line on stderr, and nothing written.
refuse() {
  local err before; err="$(mktemp)"; before="$(git status --porcelain; git diff)"
  if npm run -s "$@" >/dev/null 2>"$err"; then echo "expected '$*' to fail"; exit 1; fi
  if [ "$(grep -c . "$err")" != 1 ] || ! grep -q '^error: ' "$err"; then echo "expected one error line from '$*', got:"; cat "$err"; exit 1; fi
  echo "   refused: $(cat "$err")"
  if [ "$(git status --porcelain; git diff)" != "$before" ]; then echo "'$*' was refused but changed the tree"; git status --short; exit 1; fi
}

echo "== bad input is one line and writes nothing"
refuse new:resource -- widgets 'size:float'
refuse new:resource -- widgets 'size'
refuse new:resource -- widgets 'id:integer'
refuse new:resource -- widgets 'select:string'
refuse new:resource -- widgets 'class:string'
refuse new:resource -- widgets 'a:string' 'a:text'
refuse new:resource -- widgets 'client:ref{nowhere}'
refuse new:resource -- widgets 'item:ref{items}'
refuse new:resource -- items 'name:string'
refuse new:resource -- widgets 'n:integer=abc'
refuse new:resource -- widgets 'done:boolean:search'
refuse new:resource -- widgets 'name:string' --scope team
refuse new:resource -- widgets 'name:string' --access update=creator
refuse new:resource -- widgets 'name:string' --scope org --access publish=admin
refuse new:resource -- widgets 'name:string' --scope org --access read=creator
refuse new:resource -- widgets 'name:string' --scope org --access delete=boss
refuse new:resource -- widgets 'item:ref{items}' --scope org

echo "== --dry-run prints the plan and writes nothing"
npm run -s new:resource -- widgets 'name:string' --dry-run
clean "--dry-run"

echo "== generate the matrix"
npm run -s new:resource -- projects 'title:string{120}:search:sort' 'code:string{12}:unique' 'budget:decimal{10,2}=0.00' \
  'starts_on:date?:sort' 'meta:json?' 'status:enum{open|closed|on-hold}=open' 'summary:text=none yet' 'kickoff:datetime=2026-01-01T09:00:00Z'
npm run -s new:resource -- tasks 'title:string:search' 'notes:text?:search' 'priority:integer=3:sort' 'done:boolean=false' \
  'due_at:datetime?:sort' 'due_on:date=2026-12-31' 'settings:json={"color":"red"}' 'project:ref{projects,cascade}' --parent projects
npm run -s new:resource -- notes 'body:text' 'task:ref{tasks}' 'project:ref{projects,set-null}?' 'kind:enum{a|b}?:sort'
npm run -s new:resource -- labels 'name:string:unique:sort' --parent projects
npm run -s new:field -- projects 'archived:boolean=false' 'rank:integer?:sort' 'opened_at:datetime=2026-02-01T00:00:00Z'
# Org resources: every type, a parent, each delete rule, and each kind of access rule.
npm run -s new:resource -- boards 'title:string{80}:search:sort' 'slug:string{20}:unique' 'budget:decimal{8,3}?' 'archived:boolean=false' \
  'opens_on:date?:sort' 'opens_at:datetime?' 'size:integer=1:sort' 'notes:text?:search' 'style:json?' 'stage:enum{draft|live}=draft' --scope org
npm run -s new:resource -- cards 'title:string:search' 'board:ref{boards,cascade}' 'done:boolean=false' --parent boards --scope org \
  --access update=creator,delete=creator
npm run -s new:resource -- comments 'body:text' 'card:ref{cards}' 'board:ref{boards,set-null}?' --scope org \
  --access read=member,create=viewer,update=admin,delete=owner
npm run -s new:field -- boards 'rank:integer?:sort' 'code:string?:unique' 'blurb:string=none:search'
refuse new:resource -- widgets 'board:ref{boards}'
refuse new:resource -- widgets 'project:ref{projects}' --scope org
refuse new:field -- projects 'size:integer'
refuse new:resource -- tasks 'title:string'
refuse destroy:resource -- projects

echo "== lint, typecheck, OpenAPI lint, typed client"
npm run -s lint
npm run -s typecheck
npm run -s docs:lint
npm run -s client:generate -- --check

generated="src/modules/projects src/modules/tasks src/modules/notes src/modules/labels src/modules/boards src/modules/cards src/modules/comments"
# src/resources: the core's own fixture suite must not collide with what a team generates (it once used the names
# projects, tasks and notes, and `npm test` failed after the README's example).
checks="test/migrations.test.ts test/e2e/openapi.test.ts src/modules/items/items.test.ts src/resources"
echo "== generated tests on PGlite"
npx vitest run --coverage.enabled=false $generated $checks
engines=("DATA_DIR=$work/data")
if psql "$pg_base/postgres" -qc "CREATE DATABASE $db"; then
  echo "== generated tests on PostgreSQL"
  TEST_DATABASE_URL="$pg_base/$db" npx vitest run --coverage.enabled=false $generated $checks
  engines=("DATABASE_URL=$pg_base/$db" "${engines[@]}")
elif [ "${CI:-}" = "true" ]; then
  echo "PostgreSQL at $pg_base is unreachable: in CI that is a failure" >&2
  exit 1
else
  echo "PostgreSQL at $pg_base is unreachable: skipped outside CI"
fi

echo "== migrations up → down to zero → up"
count=$(ls migrations/*.do.*.sql | wc -l)
for env in "${engines[@]}"; do
  env "$env" npm run -s db:migrate
  env "$env" npm run -s db:rollback -- "$count"
  env "$env" npm run -s db:migrate
done

echo "== destroy everything: the tree is clean again"
edited="src/modules/projects/projects.resource.ts"
echo "// a change by hand" >> "$edited"
refuse destroy:resource -- labels --dry-run --nonsense
refuse destroy:resource -- boards
npm run -s destroy:resource -- comments
npm run -s destroy:resource -- cards
npm run -s destroy:resource -- boards
npm run -s destroy:resource -- notes
npm run -s destroy:resource -- labels
npm run -s destroy:resource -- tasks
refuse destroy:resource -- projects
npm run -s destroy:resource -- projects --force
clean "destroying every generated resource"
echo "generator matrix: ok"
