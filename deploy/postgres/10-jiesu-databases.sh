#!/usr/bin/env bash
# One database and one owning role per Jiesu service (DESIGN §3: no service reads another's
# tables). Run by the postgres image on first start (/docker-entrypoint-initdb.d); safe to run
# again, e.g. after adding a service to an existing volume:
#   docker compose -f deploy/docker-compose.yml exec postgres \
#     bash /docker-entrypoint-initdb.d/10-jiesu-databases.sh
# SERVICE_DATABASES lists the services; <SERVICE>_DB_PASSWORD holds each role's password.
set -euo pipefail

for service in ${SERVICE_DATABASES:?}; do
  name="jiesu_${service}"
  password_var="${service^^}_DB_PASSWORD"
  password="${!password_var:?${password_var} is not set}"
  psql -v ON_ERROR_STOP=1 --username "${POSTGRES_USER:-postgres}" --dbname postgres \
    -v name="$name" -v password="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN', :'name')
 WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('ALTER ROLE %I PASSWORD %L', :'name', :'password') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
 WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
  echo "jiesu: database ${name} ready"
done
