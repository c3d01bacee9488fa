"""Settings come from the environment; a malformed value stops the start, naming it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from assistgov.envvars import EnvReader

ROOT = Path(__file__).resolve().parent.parent


def load_settings(show="s.DATABASES['default']['ENGINE']", **env):
    """Import the settings (as `s`) in a fresh interpreter with exactly this environment and
    print `show`."""
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    clean.update(env)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            f"import assistgov.settings as s; print({show})",
        ],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_checkout_runs_with_no_configuration():
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.sqlite3"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEBUG": "maybe"}, "DEBUG='maybe' is not a boolean"),
        ({"DEBUG": "false"}, "SECRET_KEY is not set"),
        ({"DATABASE_URL": "mysql://db/x"}, "DATABASE_URL uses the unsupported scheme 'mysql'"),
        ({"DATABASE_URL": "not a url"}, "DATABASE_URL='not a url' is not a database URL"),
        ({"REDIS_URL": "localhost:6379"}, "REDIS_URL='localhost:6379' is not a Redis URL"),
        ({"FIELD_ENCRYPTION_KEY": "short"}, "FIELD_ENCRYPTION_KEY: key 1 is not a Fernet key"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL='LOUD' is not one of"),
        ({"STREAMS_BATCH_SIZE": "lots"}, "STREAMS_BATCH_SIZE='lots' is not a whole number"),
        ({"STREAMS_BATCH_SIZE": "0"}, "STREAMS_BATCH_SIZE=0 is below the minimum of 1"),
        ({"STREAMS_FLUSH_SECONDS": "soon"}, "STREAMS_FLUSH_SECONDS='soon' is not a number"),
        (
            {"STREAMS_RECONCILE_SECONDS": "10"},
            "STREAMS_RECONCILE_SECONDS=10 must be at most half of STREAMS_LEASE_SECONDS=15",
        ),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,soon"}, "WEBHOOK_RETRY_SCHEDULE='5,soon' is not a list"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,-1"}, "WEBHOOK_RETRY_SCHEDULE needs one or more numbers"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT='xml' is not one of: text, json"),
        ({"LOCAL_PASSWORDS": "false"}, "LOCAL_PASSWORDS=false leaves no way to sign in"),
        ({"AUDIT_SIGNING_KEY": "c2hvcnQ="}, "AUDIT_SIGNING_KEY must be 32 random bytes"),
    ],
)
def test_a_malformed_value_fails_at_start_naming_the_variable(env, message):
    result = load_settings(**env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_production_needs_an_encryption_key():
    result = load_settings(DEBUG="false", SECRET_KEY="x" * 50)
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_production_settings_load_when_complete():
    result = load_settings(
        DEBUG="false",
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEY="xOagc6CXvReSLtrxA5BFWwsl07eQsDsJ9_zF7s3b5_w=",
        DATABASE_URL="postgres://u:p@db:5432/assistgov",
        REDIS_URL="redis://redis:6379/0",
        AUDIT_HMAC_KEY="k1:" + "y" * 40,
        PERSONAL_DATA_HASH_KEY="z" * 40,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "django.db.backends.postgresql"


def test_deployments_sharing_a_redis_keep_apart_by_a_key_prefix():
    show = "s.CHANNEL_LAYERS['default']['CONFIG']['prefix'], s.CACHES['default']['KEY_PREFIX']"
    shared = load_settings(show, REDIS_URL="redis://redis:6379/0")
    assert shared.stdout == "asgi \n", shared.stderr  # channels_redis' default; none
    apart = load_settings(show, REDIS_URL="redis://redis:6379/0", REDIS_KEY_PREFIX="bench-1")
    assert apart.stdout.strip() == "bench-1 bench-1", apart.stderr


def test_reader_accepts_the_usual_boolean_words():
    reader = EnvReader({"A": "Yes", "B": "off", "C": " 1 "})
    assert (reader.bool("A", False), reader.bool("B", True), reader.bool("C", False)) == (
        True,
        False,
        True,
    )
    assert reader.bool("MISSING", True) is True


def test_reader_lists_are_comma_separated():
    assert EnvReader({"HOSTS": "a.example, b.example,,"}).list("HOSTS", []) == [
        "a.example",
        "b.example",
    ]


def test_reader_refuses_a_url_without_a_name():
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        EnvReader({"DATABASE_URL": "postgres://db:5432/"}).database("DATABASE_URL", "")


def demo_env(path: Path) -> dict:
    lines = path.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_demo_runs_with_debug_off_on_keys_made_once_for_it(tmp_path):
    """`make demo` runs as production does: DEBUG off, every key production needs, and
    the same keys on the next start (they encrypt the demo's data)."""
    from assistgov.devkeys import write_demo_env

    path = tmp_path / "demo.env"
    assert write_demo_env(path, tmp_path / "assistgov.sqlite3")
    values = demo_env(path)
    assert values["DEBUG"] == "false"
    assert oct(path.stat().st_mode & 0o777) == "0o600"  # secrets: the owner's alone
    shown = "s.DEBUG, s.SESSION_COOKIE_SECURE, sorted(s.AUDIT_HMAC_KEYS), bool(s.AUDIT_SIGNING_KEY)"
    result = load_settings(shown, **values)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False ['demo'] True"
    assert not write_demo_env(path, tmp_path / "assistgov.sqlite3")  # kept, not remade
    assert demo_env(path) == values
    other = tmp_path / "other.env"
    write_demo_env(other, tmp_path / "assistgov.sqlite3")
    assert demo_env(other)["SECRET_KEY"] != values["SECRET_KEY"]  # random, each demo its own


def test_a_demo_database_made_under_debug_keeps_opening_with_debug_off(tmp_path):
    """A demo database from before the demo ran with DEBUG off holds secrets encrypted under
    the development keys: its environment keeps them."""
    from assistgov.devkeys import write_demo_env

    (tmp_path / "assistgov.sqlite3").write_bytes(b"")
    write_demo_env(tmp_path / "demo.env", tmp_path / "assistgov.sqlite3")
    values = demo_env(tmp_path / "demo.env")
    keys = "s.FIELD_ENCRYPTION_KEYS[0], s.AUDIT_HMAC_KEYS, s.PERSONAL_DATA_HASH_KEY"
    assert load_settings(keys, **values).stdout == load_settings(keys).stdout  # DEBUG's
