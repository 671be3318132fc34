#!/bin/sh
# Gives TalentLedger's roles (10-talentledger-roles.sql) their passwords from the environment.
# Like every script in /docker-entrypoint-initdb.d, it runs once, when the volume is new.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v owner="$TALENTLEDGER_OWNER_DB_PASSWORD" \
    -v framework="$TALENTLEDGER_FRAMEWORK_DB_PASSWORD" \
    -v assessment="$TALENTLEDGER_ASSESSMENT_DB_PASSWORD" \
    -v development="$TALENTLEDGER_DEVELOPMENT_DB_PASSWORD" \
    -v promotion="$TALENTLEDGER_PROMOTION_DB_PASSWORD" \
    -v cycles="$TALENTLEDGER_CYCLES_DB_PASSWORD" <<'SQL'
ALTER ROLE talentledger_owner PASSWORD :'owner';
ALTER ROLE talentledger_framework PASSWORD :'framework';
ALTER ROLE talentledger_assessment PASSWORD :'assessment';
ALTER ROLE talentledger_development PASSWORD :'development';
ALTER ROLE talentledger_promotion PASSWORD :'promotion';
ALTER ROLE talentledger_cycles PASSWORD :'cycles';
SQL
