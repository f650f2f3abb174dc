-- The PostgreSQL role that owns the suite's database and schema: it runs the migrations (and with them owns the
-- functions through which storage creates and drops partitions) and grants the services' roles their tables. No
-- service logs in as it: the one-shot db-migrate does (compose, the k8s Job; `node tools/db-migrate.mjs`), and
-- `tmon-storage move-raw`, which drops the legacy raw-sample table. CREATEDB for the database itself; not a
-- superuser (no COPY ... PROGRAM, no reading server files, no other database's data).
--
-- Run as a superuser with psql 15 or later, once per server and again after changing the password; it is
-- idempotent, and it hands over to the role whatever an older release created as `postgres`:
--   DATABASE_PASSWORD='<the role's password>' psql -h <host> -U postgres -d postgres -v ON_ERROR_STOP=1 -f deploy/postgres/roles.sql
-- Variables (psql -v): role (default terminusa), db (terminusa), schema (public; the services' database.schema).
-- The password comes from the environment variable DATABASE_PASSWORD, or from -v password=... .
-- docker-compose.yml runs it as the one-shot postgres-bootstrap; on Kubernetes run it by hand (docs/deploy.md §8).
--
-- It also makes the login roles of the services, which own nothing and run no migrations (database.migrate false):
--   gateway_role (default terminusa_gateway) with GATEWAY_DATABASE_PASSWORD (or -v gateway_password=...),
--   alert_manager_role (terminusa_alert_manager) with ALERT_MANAGER_DATABASE_PASSWORD (or -v alert_manager_password=...),
--   storage_role (terminusa_storage) with STORAGE_DATABASE_PASSWORD (or -v storage_password=...),
--   backup_role (terminusa_backup) with BACKUP_DATABASE_PASSWORD (or -v backup_password=...);
-- a role whose password is not given is skipped with a NOTICE. Here they get CONNECT and USAGE on the schema;
-- storage and backup TEMP on the database too (storage's rollup computation and archive load-back, and a restore
-- merging into tables that hold rows, use ON COMMIT temporary tables); backup CREATEDB, for restore drills into a
-- database of their own. Their tables (backup: every table, to copy out and merge back), and storage's EXECUTE on
-- the partition functions, are granted by the owner after each migration run (packages/database
-- service-grants.ts), so the list lives with the code that uses the tables.

\set ON_ERROR_STOP on
\if :{?role}
\else
  \set role terminusa
\endif
\if :{?db}
\else
  \set db terminusa
\endif
\if :{?schema}
\else
  \set schema public
\endif
\if :{?gateway_role}
\else
  \set gateway_role terminusa_gateway
\endif
\if :{?alert_manager_role}
\else
  \set alert_manager_role terminusa_alert_manager
\endif
\if :{?storage_role}
\else
  \set storage_role terminusa_storage
\endif
\if :{?backup_role}
\else
  \set backup_role terminusa_backup
\endif
\if :{?password}
\else
  \getenv password DATABASE_PASSWORD
\endif
\if :{?gateway_password}
\else
  \getenv gateway_password GATEWAY_DATABASE_PASSWORD
\endif
\if :{?gateway_password}
\else
  \set gateway_password ''
\endif
\if :{?alert_manager_password}
\else
  \getenv alert_manager_password ALERT_MANAGER_DATABASE_PASSWORD
\endif
\if :{?alert_manager_password}
\else
  \set alert_manager_password ''
\endif
\if :{?storage_password}
\else
  \getenv storage_password STORAGE_DATABASE_PASSWORD
\endif
\if :{?storage_password}
\else
  \set storage_password ''
\endif
\if :{?backup_password}
\else
  \getenv backup_password BACKUP_DATABASE_PASSWORD
\endif
\if :{?backup_password}
\else
  \set backup_password ''
\endif
\if :{?password}
\else
  \set password ''
\endif
SELECT length(:'password') = 0 AS password_missing \gset
\if :password_missing
  DO $$ BEGIN RAISE EXCEPTION 'roles.sql: set DATABASE_PASSWORD (the password of the role the services log in as)'; END $$;
\endif

SELECT format('CREATE ROLE %I', :'role') WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = :'role') \gexec
ALTER ROLE :"role" WITH LOGIN NOSUPERUSER NOCREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS PASSWORD :'password';

-- The services' own roles: login, nothing else (no roles, no databases but backup's drills; owning nothing, they
-- run no DDL but temporary tables).
SELECT format('DO $notice$ BEGIN RAISE NOTICE %L; END $notice$',
              format('roles.sql: %s not set: role %s not made or changed (the service configured to log in as it cannot)', v.variable, v.name))
  FROM (VALUES (:'gateway_role', :'gateway_password', 'GATEWAY_DATABASE_PASSWORD'),
               (:'alert_manager_role', :'alert_manager_password', 'ALERT_MANAGER_DATABASE_PASSWORD'),
               (:'storage_role', :'storage_password', 'STORAGE_DATABASE_PASSWORD'),
               (:'backup_role', :'backup_password', 'BACKUP_DATABASE_PASSWORD')) AS v(name, password, variable)
 WHERE v.password = '' \gexec
SELECT format('CREATE ROLE %I', v.name)
  FROM (VALUES (:'gateway_role', :'gateway_password'), (:'alert_manager_role', :'alert_manager_password'),
               (:'storage_role', :'storage_password'), (:'backup_role', :'backup_password')) AS v(name, password)
 WHERE v.password <> '' AND NOT EXISTS (SELECT FROM pg_roles WHERE rolname = v.name) \gexec
SELECT format('ALTER ROLE %I WITH LOGIN NOSUPERUSER %s NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD %L',
              v.name, CASE WHEN v.name = :'backup_role' THEN 'CREATEDB' ELSE 'NOCREATEDB' END, v.password)
  FROM (VALUES (:'gateway_role', :'gateway_password'), (:'alert_manager_role', :'alert_manager_password'),
               (:'storage_role', :'storage_password'), (:'backup_role', :'backup_password')) AS v(name, password)
 WHERE v.password <> '' \gexec

SELECT format('CREATE DATABASE %I OWNER %I', :'db', :'role') WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db') \gexec
ALTER DATABASE :"db" OWNER TO :"role";

\connect :"db"
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS :"schema" AUTHORIZATION :"role";
ALTER SCHEMA :"schema" OWNER TO :"role";

-- Only the roles named here may connect or create in the schema (PostgreSQL grants CONNECT and TEMP to PUBLIC).
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
REVOKE CREATE ON SCHEMA :"schema" FROM PUBLIC;
SELECT format('GRANT CONNECT ON DATABASE %I TO %I', :'db', v.name), format('GRANT USAGE ON SCHEMA %I TO %I', :'schema', v.name)
  FROM (VALUES (:'gateway_role'), (:'alert_manager_role'), (:'storage_role'), (:'backup_role')) AS v(name)
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = v.name) \gexec
-- Storage and backup alone may create temporary tables (ON COMMIT DROP / DELETE ROWS, in computeRollups, the
-- archive's load-back and a restore's merge); they live in the role's own pg_temp schema, which the partition
-- functions' search_path puts last.
SELECT format('GRANT TEMP ON DATABASE %I TO %I', :'db', v.name)
  FROM (VALUES (:'storage_role'), (:'backup_role')) AS v(name)
 WHERE EXISTS (SELECT FROM pg_roles WHERE rolname = v.name) \gexec

-- What an older release (or the image's POSTGRES_DB) created as another role: tables, partitions, views and
-- sequences of their own (a serial column's sequence follows its table), then functions.
SELECT format('ALTER %s %I.%I OWNER TO %I',
              CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END,
              n.nspname, c.relname, :'role')
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = :'schema'
   AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
   AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = :'role')
   AND NOT (c.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d
                                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype IN ('a', 'i')))
 ORDER BY c.relkind, c.relname \gexec
SELECT format('ALTER ROUTINE %s OWNER TO %I', p.oid::regprocedure, :'role')
  FROM pg_proc p
  JOIN pg_namespace n ON n.oid = p.pronamespace
 WHERE n.nspname = :'schema'
   AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = :'role') \gexec
