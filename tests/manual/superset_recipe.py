"""Check the README's Superset recipe against a real Apache Superset, end to end (run by hand).

Superset pins SQLAlchemy 1.4 and cannot share crmwh's environment (Airflow 3 needs SQLAlchemy 2), so
this runs in a throwaway virtualenv of its own, outside the repository, never in the project's lock:

    python3 -m venv /tmp/superset-venv
    /tmp/superset-venv/bin/pip install "apache-superset==6.1.0" "duckdb-engine==0.17.0" "duckdb==2.0.0" \
        "flask-caching==2.3.1" rich   # 6.1.0 needs rich and breaks on flask-caching 2.5
    /tmp/superset-venv/bin/python tests/manual/superset_recipe.py /abs/path/data/published/marts.duckdb

It makes a Superset home in a temporary folder (SQLite metadata database), creates an admin, then, as a
user would through the UI (the same REST endpoints): adds the database with the README's connection
string and read-only flag, tests the connection, lists the schemas and the tables of the README's schema,
adds a dataset (column reflection), runs a query in SQL Lab, asks for a chart's data, and checks that a
write is refused. Prints one line per step; exits non-zero on the first failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

SCHEMA = "marts.main"  # the schema Superset lists for the published file (catalog marts, schema main)
TABLE = "customer_retention"


def step(message: str) -> None:
    print(f"ok: {message}", flush=True)


def main() -> int:
    published = Path(sys.argv[1]).absolute()  # the stable name, not the version it resolves to
    uri = f"duckdb:///{published}"
    extra = {"engine_params": {"connect_args": {"read_only": True}}}
    with tempfile.TemporaryDirectory(prefix="superset-home-") as home:
        config = Path(home) / "superset_config.py"
        config.write_text(
            f"SECRET_KEY = {os.urandom(24).hex()!r}\n"
            f"SQLALCHEMY_DATABASE_URI = 'sqlite:///{home}/superset.db'\n"
            "WTF_CSRF_ENABLED = False\nTALISMAN_ENABLED = False\n"
            "FEATURE_FLAGS = {}\n", encoding="utf-8")
        env = {**os.environ, "SUPERSET_CONFIG_PATH": str(config), "SUPERSET_HOME": home,
               "FLASK_APP": "superset"}
        superset = str(Path(sys.executable).with_name("superset"))
        for args in (["db", "upgrade"], ["fab", "create-admin", "--username", "admin", "--firstname", "A",
                                          "--lastname", "Dmin", "--email", "admin@example.org", "--password",
                                          "admin"], ["init"]):
            subprocess.run([superset, *args], env=env, check=True, capture_output=True)  # noqa: S603
        step("Superset home, metadata database and admin user")
        os.environ.update(env)

        from superset.app import create_app

        app = create_app()
        client = app.test_client()
        # every request its own app context (one shared context would keep the first request's user)
        token = client.post("/api/v1/security/login", json={
            "username": "admin", "password": "admin", "provider": "db", "refresh": True}).json["access_token"]
        auth = {"Authorization": f"Bearer {token}"}

        def call(method: str, url: str, **kw):
            response = getattr(client, method)(url, headers=auth, **kw)
            if response.status_code >= 400:
                raise SystemExit(f"FAILED: {method.upper()} {url}: {response.status_code} {response.data[:500]!r}")
            return response.json

        import sqlalchemy

        print(f"versions: superset 6.1, SQLAlchemy {sqlalchemy.__version__}", flush=True)
        body = {"database_name": "crmwh marts", "sqlalchemy_uri": uri, "extra": json.dumps(extra)}
        call("post", "/api/v1/database/test_connection/", json=body)
        step(f"test connection: {uri} with {json.dumps(extra)}")
        database_id = call("post", "/api/v1/database/", json={**body, "expose_in_sqllab": True})["id"]
        schemas = call("get", f"/api/v1/database/{database_id}/schemas/")["result"]
        step(f"schemas: {schemas}")
        q = f"(schema_name:{SCHEMA},force:!t)"
        tables = [t["value"] for t in call("get", f"/api/v1/database/{database_id}/tables/?q={q}")["result"]]
        assert TABLE in tables, tables
        step(f"tables in schema {SCHEMA}: {sorted(tables)}")
        dataset_id = call("post", "/api/v1/dataset/", json={
            "database": database_id, "schema": SCHEMA, "table_name": TABLE})["id"]
        columns = call("get", f"/api/v1/dataset/{dataset_id}")["result"]["columns"]
        assert {"customer_id", "risk_score", "rfm_segment"} <= {c["column_name"] for c in columns}
        step(f"dataset {TABLE}: {len(columns)} columns reflected")
        result = call("post", "/api/v1/sqllab/execute/", json={
            "database_id": database_id, "schema": SCHEMA, "runAsync": False,
            "sql": f"select rfm_segment, count(*) as n from {TABLE} group by 1 order by 2 desc"})
        step(f"SQL Lab: {len(result['data'])} rows, first {result['data'][:1]}")
        chart = call("post", "/api/v1/chart/data", json={
            "datasource": {"id": dataset_id, "type": "table"},
            "queries": [{"columns": ["rfm_segment"], "metrics": ["count"], "row_limit": 100}],
            "result_format": "json", "result_type": "full"})
        step(f"chart data: {chart['result'][0]['rowcount']} groups")
        refused = client.post("/api/v1/sqllab/execute/", headers=auth, json={
            "database_id": database_id, "schema": SCHEMA, "runAsync": False, "sql": f"delete from {TABLE}"})
        assert refused.status_code >= 400, refused.json
        step(f"a write is refused by Superset (allow_dml off): {str(refused.json)[:100]}")
        call("put", f"/api/v1/database/{database_id}", json={"allow_dml": True})
        refused = client.post("/api/v1/sqllab/execute/", headers=auth, json={
            "database_id": database_id, "schema": SCHEMA, "runAsync": False, "sql": f"delete from {TABLE}"})
        assert refused.status_code >= 400 and "read-only" in str(refused.json), refused.json
        step(f"with allow_dml on, DuckDB refuses it (read_only): {str(refused.json)[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
