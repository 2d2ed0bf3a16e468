#!/usr/bin/env bash
# Runs once, on the primary's first start (docker-entrypoint-initdb.d), after
# the entrypoint has created MYSQL_DATABASE and MYSQL_USER.
# Creates the account the replica connects with. The statements are written to
# the binary log on purpose: the replica replays them (and the app user and
# database) through GTID auto-positioning, so both servers end up with the same
# accounts.
# Works whether the entrypoint executes or sources this file (no `exit`).
set -eu

: "${MYSQL_REPLICATION_USER:=repl}"
: "${MYSQL_REPLICATION_PASSWORD:?MYSQL_REPLICATION_PASSWORD must be set}"

echo "[bazaar] creating replication user '${MYSQL_REPLICATION_USER}'"
mysql --protocol=socket --socket="${SOCKET:-/var/run/mysqld/mysqld.sock}" \
  -uroot -p"${MYSQL_ROOT_PASSWORD}" <<SQL
CREATE USER IF NOT EXISTS '${MYSQL_REPLICATION_USER}'@'%' IDENTIFIED BY '${MYSQL_REPLICATION_PASSWORD}';
GRANT REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO '${MYSQL_REPLICATION_USER}'@'%';
FLUSH PRIVILEGES;
SQL
