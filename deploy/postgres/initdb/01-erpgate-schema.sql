-- Run once by the postgres image, as POSTGRES_USER in POSTGRES_DB, when it
-- initialises an empty data directory (/docker-entrypoint-initdb.d): the
-- schema that store.dsn's search_path=erpgate names. erpgate creates its
-- tables in it on first start, but does not create the schema itself.
CREATE SCHEMA IF NOT EXISTS erpgate AUTHORIZATION erpgate;
