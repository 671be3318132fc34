-- Run as a role allowed to create roles, connected to the database; then
-- give each role a password (psql: \password <role>).
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_owner') THEN CREATE ROLE "talentledger_owner"; END IF; END $$;
ALTER ROLE "talentledger_owner" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_owner";
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_framework') THEN CREATE ROLE "talentledger_framework"; END IF; END $$;
ALTER ROLE "talentledger_framework" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_framework";
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_assessment') THEN CREATE ROLE "talentledger_assessment"; END IF; END $$;
ALTER ROLE "talentledger_assessment" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_assessment";
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_development') THEN CREATE ROLE "talentledger_development"; END IF; END $$;
ALTER ROLE "talentledger_development" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_development";
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_promotion') THEN CREATE ROLE "talentledger_promotion"; END IF; END $$;
ALTER ROLE "talentledger_promotion" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_promotion";
DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'talentledger_cycles') THEN CREATE ROLE "talentledger_cycles"; END IF; END $$;
ALTER ROLE "talentledger_cycles" WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS NOINHERIT;
GRANT CONNECT ON DATABASE "talentledger" TO "talentledger_cycles";
GRANT CREATE ON DATABASE "talentledger" TO "talentledger_owner";
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
