"""Prepare the benchmark's database, in a process of its own (Django set up from the env).

    DATABASE_URL=... python -m bench.provision '{"bench-lat": "http://127.0.0.1:9100", ...}'

Migrates, creates the user `bench` with a fresh API key, and points one model per
fake upstream at it; prints {"api_key": ...} as one JSON line. For PostgreSQL it creates
the database named in DATABASE_URL first if it does not exist.
"""

from __future__ import annotations

import io
import json
import os
import sys

BENCH_USER = "bench"


def ensure_postgres_database(url: str) -> None:
    """CREATE DATABASE if the server is there but the database is not."""
    import dj_database_url
    import psycopg
    from psycopg import sql

    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or None,
        "password": config.get("PASSWORD") or None,
    }
    try:
        psycopg.connect(dbname=config["NAME"], **params).close()
    except psycopg.OperationalError as error:
        if "does not exist" not in str(error):
            raise
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(config["NAME"])))


def main(argv: list[str]) -> int:
    models: dict[str, str] = json.loads(argv[0])
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql://")):
        ensure_postgres_database(url)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatsite.settings")
    import django

    django.setup()
    from django.core.management import call_command

    from chat.models import ApiKey

    call_command("migrate", verbosity=0, interactive=False)
    # The command creates the user on first use; the key is the last word it prints.
    out = io.StringIO()
    call_command("create_api_key", BENCH_USER, name="benchmark", stdout=out)
    api_key = out.getvalue().split()[-1]
    # Keys of earlier runs are of no use to anyone: keep one.
    keys = ApiKey.objects.filter(user__username=BENCH_USER)
    keys.exclude(pk=keys.latest("pk").pk).delete()
    for name, base_url in models.items():
        call_command(
            "configure_model",
            name,
            provider="openai",
            base_url=base_url,
            upstream_model="bench",
            max_tokens=100_000,
            stdout=io.StringIO(),
        )
    print(json.dumps({"api_key": api_key}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
