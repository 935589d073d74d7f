#!/bin/sh
# First start: a cluster in $PGDATA with the superuser POSTGRES_USER (password
# POSTGRES_PASSWORD, scram-sha-256 from the network; the socket inside the container is
# trusted, as in the usual postgres image) and the database POSTGRES_DB.
set -eu
: "${POSTGRES_PASSWORD:?ccd-postgres: set POSTGRES_PASSWORD}"
POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
for name in "$POSTGRES_USER" "$POSTGRES_DB"; do
    case $name in
        *[!A-Za-z0-9_]* | "") echo "ccd-postgres: POSTGRES_USER, POSTGRES_DB: letters, digits and _ only" >&2; exit 2 ;;
    esac
done
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb -D "$PGDATA" -U "$POSTGRES_USER" --pwfile="$pwfile" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
    if [ "$POSTGRES_DB" != postgres ]; then
        echo "CREATE DATABASE \"$POSTGRES_DB\" OWNER \"$POSTGRES_USER\";" |
            postgres --single -D "$PGDATA" postgres >/dev/null
    fi
fi
exec "$@"
