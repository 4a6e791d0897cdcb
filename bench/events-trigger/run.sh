#!/bin/bash
# The event write's price in PostgreSQL alone (issue 22): backend CPU per item INSERT (the statement POST makes) for
# each variant in bench/events-trigger/variants.sql, in alternating rounds, read from /proc/<backend>/stat (CPU time,
# so other load on a shared machine does not count), one pgbench client, -M prepared, synchronous_commit=off (the
# flush is not CPU). Also WAL bytes per transaction. Run it under the shared lock:
#   createdb -h 127.0.0.1 -U postgres keel_evbench
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/keel_evbench npm run db:migrate
#   psql -h 127.0.0.1 -U postgres keel_evbench -f bench/events-trigger/variants.sql
#   flock /tmp/keel-heavy.lock bench/events-trigger/run.sh keel_evbench 3 15000 off trig noregex argv empty noidx stmt cte cteslim ctejson cteguard-depth cteguard-marker
set -euo pipefail
db=$1; rounds=$2; n=$3; shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
P="psql -h ${PGHOST:-127.0.0.1} -U ${PGUSER:-postgres} $db -Atq"
owner=$($P -c "select id from users where email = 'events-trigger-bench@example.com'")
item="INSERT INTO items (name, description, is_active, owner_id) VALUES ('bench item'::varchar, 'created by the benchmark'::varchar, true::boolean, $owner)"
echo "$item RETURNING *;" > "$tmp/insert.sql"
# The core's statement writing its own event (the marker comment is what bench_guard_marker looks for).
cte() { echo "/* keel-event */ WITH r AS ($item RETURNING *), e AS (INSERT INTO $1 (type, resource, row_id, owner_id, data) SELECT 'items.created', 'items', r.id, r.owner_id, $2 FROM r) SELECT * FROM r;"; }
cte events 'to_jsonb(r)' > "$tmp/cte.sql"
cte events "'{}'" > "$tmp/cteslim.sql"
cte bench_events_json 'to_json(r)' > "$tmp/ctejson.sql"

measure() { # script -> "<µs CPU per tx> <WAL bytes per tx>"
  local l0 l1 bg pid="" last=0 s
  l0=$($P -c "select pg_current_wal_lsn()")
  PGOPTIONS="-c synchronous_commit=off" PGAPPNAME=events-trigger-bench pgbench -h "${PGHOST:-127.0.0.1}" -U "${PGUSER:-postgres}" \
    -n -M prepared -c 1 -t "$n" -f "$1" "$db" > "$tmp/pgbench.out" 2>&1 &
  bg=$!
  for _ in $(seq 200); do
    pid=$($P -c "select pid from pg_stat_activity where application_name = 'events-trigger-bench'")
    [ -n "$pid" ] && break
    kill -0 $bg 2>/dev/null || break
    sleep 0.01
  done
  [ -n "$pid" ] || { cat "$tmp/pgbench.out" >&2; exit 1; }
  # Polled until the backend exits: its last reading is at most 10 ms short of the whole run.
  while kill -0 $bg 2>/dev/null; do
    s=$(awk '{print $14 + $15}' /proc/$pid/stat 2>/dev/null) && [ -n "$s" ] && last=$s
    sleep 0.01
  done
  wait $bg || { cat "$tmp/pgbench.out" >&2; exit 1; }
  l1=$($P -c "select pg_current_wal_lsn()")
  echo "$(awk -v t="$last" -v hz="$(getconf CLK_TCK)" -v n="$n" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }') $($P -c "select round(pg_wal_lsn_diff('$l1', '$l0') / $n)")"
}

for round in $(seq "$rounds"); do
  for v in "$@"; do
    $P -c "ALTER TABLE items DISABLE TRIGGER USER"
    script=$tmp/insert.sql
    case $v in
      off) ;;
      trig) $P -c "ALTER TABLE items ENABLE TRIGGER items_record_event" ;;
      noregex|argv|empty|noidx|stmt) $P -c "ALTER TABLE items ENABLE TRIGGER bench_$v" ;;
      cte|cteslim|ctejson) script=$tmp/$v.sql ;;
      cteguard-depth) script=$tmp/cte.sql; $P -c "ALTER TABLE items ENABLE TRIGGER bench_guard_depth" ;;
      cteguard-marker) script=$tmp/cte.sql; $P -c "ALTER TABLE items ENABLE TRIGGER bench_guard_marker" ;;
      *) echo "unknown variant $v" >&2; exit 2 ;;
    esac
    read -r us wal < <(measure "$script")
    printf 'round %d  %-16s %6s us CPU/insert  %5s B WAL/insert\n' "$round" "$v" "$us" "$wal"
  done
done
$P -c "ALTER TABLE items DISABLE TRIGGER USER; ALTER TABLE items ENABLE TRIGGER items_record_event"
