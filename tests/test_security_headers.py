"""A production configuration passes Django's deployment checks; pages carry a nonce-based
Content-Security-Policy and no template has an inline event handler."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def production_env(tmp_path, **overrides):
    clean = {k: v for k, v in os.environ.items() if not k.isupper() or k in ("PATH", "HOME")}
    return {
        **clean,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "assistgov.example.com",
        "FIELD_ENCRYPTION_KEY": "xOagc6CXvReSLtrxA5BFWwsl07eQsDsJ9_zF7s3b5_w=",
        "AUDIT_HMAC_KEY": "k1:" + secrets.token_urlsafe(40),
        "PERSONAL_DATA_HASH_KEY": secrets.token_urlsafe(40),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'deploy.sqlite3'}",
        **overrides,
    }


def test_check_deploy_finds_nothing_in_a_production_configuration(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_production_needs_an_audit_key(tmp_path):
    env = production_env(tmp_path)
    del env["AUDIT_HMAC_KEY"]
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "AUDIT_HMAC_KEY is not set" in result.stderr


@pytest.mark.django_db
def test_pages_carry_a_nonce_based_policy_and_their_scripts_the_nonce(client, officer):
    client.force_login(officer)
    response = client.get("/review/")
    policy = response["Content-Security-Policy"]
    nonce = re.search(r"'nonce-([^']+)'", policy).group(1)
    assert "script-src 'self' 'nonce-" in policy
    assert "'unsafe-inline'" not in policy
    assert "frame-ancestors 'none'" in policy
    assert "object-src 'none'" in policy
    assert client.get("/review/")["Content-Security-Policy"] != policy  # a nonce per response
    assert nonce


@pytest.mark.django_db
def test_https_is_required_with_health_checks_exempt(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    settings.SECURE_HSTS_SECONDS = 31_536_000
    secure = client.get("/login/", secure=True)
    assert secure["Strict-Transport-Security"].startswith("max-age=31536000")


def test_no_template_has_an_inline_event_handler_or_script():
    handler = re.compile(r"\son[a-z]+\s*=", re.IGNORECASE)
    inline_script = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
    found = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        if handler.search(text) or inline_script.search(text):
            found.append(str(path.relative_to(ROOT)))
    assert not found, found


@pytest.mark.django_db
@pytest.mark.parametrize(
    "address",
    [
        "/export/insights.csv",
        "/review/progress",
        "/review/views",
        "/audit/export/csv/",
        "/audit/export/csv/manifest/",
        "/dashboard/health",
    ],
)
def test_exports_and_json_answers_are_never_stored_by_a_cache(client, gov_admin, address):
    client.force_login(gov_admin)
    response = client.get(address)
    assert response.status_code == 200
    cache_control = {part.strip() for part in response["Cache-Control"].split(",")}
    assert {"no-store", "private"} <= cache_control
