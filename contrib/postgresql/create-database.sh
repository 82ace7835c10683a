#!/bin/sh
# Creates the role and the database milter-ingress uses on a PostgreSQL server shared by several
# MX hosts.  Run it as the postgres user on the database server (or with psql's PG* variables set
# for a superuser).  createuser --pwprompt asks for the role's password: put it in each host's
# PGPASSFILE or in the database URI (README "Several MX hosts").  milter-ingress creates its
# tables itself (the migrations) at its first start, under an advisory lock.
set -eu
role=${1:-ingress}
database=${2:-ingress}
createuser --no-superuser --no-createdb --no-createrole --pwprompt "$role"
createdb --owner="$role" --encoding=UTF8 "$database"
