#!/usr/bin/env bash
# Runs once, on the replica's first start (docker-entrypoint-initdb.d).
# Waits for the primary, points this server at it with GTID auto-positioning
# and starts replication. The replica has no MYSQL_DATABASE / MYSQL_USER of
# its own: the `bazaar` database, the app user and the replication user all
# arrive from the primary's binary log.
# Replication settings are stored in the data directory, so after the
# entrypoint's temporary server stops, the real server resumes replicating by
# itself. super_read_only is persisted last (mysqld-auto.cnf): setting it on
# the command line would block the entrypoint's own root/timezone setup.
# Works whether the entrypoint executes or sources this file (no `exit`).
set -eu

: "${MYSQL_PRIMARY_HOST:=mysql-primary}"
: "${MYSQL_PRIMARY_PORT:=3306}"
: "${MYSQL_REPLICATION_USER:=repl}"
: "${MYSQL_REPLICATION_PASSWORD:?MYSQL_REPLICATION_PASSWORD must be set}"
: "${MYSQL_PRIMARY_WAIT_SECONDS:=300}"

bazaar_local_sql() {
  mysql --protocol=socket --socket="${SOCKET:-/var/run/mysqld/mysqld.sock}" \
    -uroot -p"${MYSQL_ROOT_PASSWORD}" "$@"
}

bazaar_wait_for_primary() {
  local waited=0
  echo "[bazaar] waiting for primary ${MYSQL_PRIMARY_HOST}:${MYSQL_PRIMARY_PORT}"
  until mysql -h"${MYSQL_PRIMARY_HOST}" -P"${MYSQL_PRIMARY_PORT}" \
      -u"${MYSQL_REPLICATION_USER}" -p"${MYSQL_REPLICATION_PASSWORD}" \
      --get-server-public-key -e 'SELECT 1' >/dev/null 2>&1; do
    if [ "${waited}" -ge "${MYSQL_PRIMARY_WAIT_SECONDS}" ]; then
      echo "[bazaar] primary not reachable after ${waited}s" >&2
      return 1
    fi
    sleep 2
    waited=$((waited + 2))
  done
  echo "[bazaar] primary reachable after ${waited}s"
}

bazaar_wait_for_primary

echo "[bazaar] configuring GTID replication from ${MYSQL_PRIMARY_HOST}"
bazaar_local_sql <<SQL
CHANGE REPLICATION SOURCE TO
  SOURCE_HOST = '${MYSQL_PRIMARY_HOST}',
  SOURCE_PORT = ${MYSQL_PRIMARY_PORT},
  SOURCE_USER = '${MYSQL_REPLICATION_USER}',
  SOURCE_PASSWORD = '${MYSQL_REPLICATION_PASSWORD}',
  SOURCE_AUTO_POSITION = 1,
  GET_SOURCE_PUBLIC_KEY = 1,
  SOURCE_CONNECT_RETRY = 5;
START REPLICA;
SET PERSIST read_only = ON;
SET PERSIST super_read_only = ON;
SQL
echo "[bazaar] replication started"
