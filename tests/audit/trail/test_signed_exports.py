"""Exports that prove themselves: a signed manifest beside each file, checked offline."""

import json
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from audit.trail import signing
from audit.trail.record import audit_record
from tests.audit.reports.test_exports import download

pytestmark = pytest.mark.django_db


def trail(count=5):
    return [
        audit_record(action="insight.approve", actor_label="olivia", object_repr=f"Insight {n}")
        for n in range(count)
    ] + [audit_record(action="knowledge.query", actor_label="Automatic search")]


@pytest.fixture
def exported(tmp_path):
    def export(fmt="csv", **filters):
        path = tmp_path / f"trail.{fmt}"
        options = {"format": fmt, **filters}
        call_command("export_audit", str(path), **options)
        return path, path.with_name(path.name + ".manifest.json")

    return export


def verify(path, manifest, **options):
    call_command("verify_export", str(path), str(manifest), **options)


@pytest.mark.parametrize("fmt", ["csv", "ocsf"])
def test_a_fresh_export_verifies_with_the_published_key(exported, capsys, fmt):
    entries = trail()
    path, manifest_path = exported(fmt)
    manifest = json.loads(manifest_path.read_text())
    assert manifest["rows"] == len(entries)
    assert manifest["first_entry"]["entry_hash"] == entries[0].entry_hash
    assert manifest["last_entry"]["id"] == entries[-1].pk
    assert manifest["chain_head_at_export"]["id"] >= entries[-1].pk
    verify(path, manifest_path, public_key=signing.public_key_text())
    out = capsys.readouterr().out
    assert "every entry links to the one before it" in out
    assert out.splitlines()[-2:] == [
        "export verified",
        f"scope: complete: every entry of the trail up to entry {manifest['parameters']['through']}"
        ", each linked to the one before it, so none can be missing unnoticed",
    ]
    assert manifest["scope"].startswith("complete: every entry of the trail up to entry")


@pytest.mark.parametrize("fmt", ["csv", "ocsf"])
def test_one_changed_byte_of_the_file_is_found(exported, fmt):
    trail()
    path, manifest_path = exported(fmt)
    data = bytearray(path.read_bytes())
    at = data.index(b"Insight 3") + len("Insight ")
    data[at] = ord("4")
    path.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="the file's SHA-256 is"):
        verify(path, manifest_path, public_key=signing.public_key_text())


def test_one_changed_byte_of_the_manifest_is_found(exported):
    trail()
    path, manifest_path = exported()
    text = manifest_path.read_text()
    manifest = json.loads(text)
    changed = text.replace(f'"rows": {manifest["rows"]}', f'"rows": {manifest["rows"] - 1}')
    assert changed != text
    manifest_path.write_text(changed)
    with pytest.raises(CommandError, match="signature does not match"):
        verify(path, manifest_path, public_key=signing.public_key_text())


def test_a_manifest_signed_by_another_key_is_refused(exported, settings):
    trail()
    path, manifest_path = exported()
    other = "A" * 43 + "="
    with pytest.raises(CommandError, match="signature does not match"):
        verify(path, manifest_path, public_key=other)


def test_a_filtered_export_names_its_filters_and_is_not_checked_for_links(exported, capsys):
    trail()
    path, manifest_path = exported(category="decisions")
    manifest = json.loads(manifest_path.read_text())
    assert manifest["parameters"]["category"] == "decisions"
    assert manifest["rows"] == 5
    # Signed in the manifest and said by the verifier: a selection cannot prove completeness.
    assert manifest["scope"].startswith("a selection (category=decisions): it proves each entry")
    verify(path, manifest_path, public_key=signing.public_key_text())
    out = capsys.readouterr().out
    assert "links to the one before it" not in out
    assert "scope: a selection (category=decisions)" in out
    assert "not that the trail holds no other entry matching these filters" in out


def test_without_a_key_exports_are_refused_with_what_to_do(exported, settings):
    settings.AUDIT_SIGNING_KEY = ""
    trail()
    with pytest.raises(CommandError, match="AUDIT_SIGNING_KEY is not set"):
        exported()


def test_the_page_s_download_and_its_manifest_agree(client, auditor, tmp_path, capsys):
    trail()
    client.force_login(auditor)
    page = client.get(reverse("audit-trail"), {"category": "all"}).content.decode()
    assert signing.public_key_text() in page
    href = page[page.index(reverse("audit-export", args=["ocsf"])) :]
    href = href[: href.index('"')].replace("&amp;", "&")
    # More entries after the page was shown: the pinned download leaves them out.
    audit_record(action="insight.reject", actor_label="oscar")
    body = download(client.get(href))
    events = [json.loads(line) for line in body.splitlines()]
    assert events[0]["class_uid"] == 6003 and events[0]["metadata"]["product"]["name"]
    assert "insight.reject" not in body
    manifest_href = href.replace("/ocsf/", "/ocsf/manifest/")
    response = client.get(manifest_href)
    assert response["Content-Disposition"].endswith('.ocsf.jsonl.manifest.json"')
    (tmp_path / "file").write_text(body, encoding="utf-8")
    (tmp_path / "manifest").write_bytes(response.content)
    verify(tmp_path / "file", tmp_path / "manifest", public_key=signing.public_key_text())
    assert "\nexport verified\nscope: complete" in capsys.readouterr().out


def test_a_filtered_trail_offers_the_complete_export_first(client, auditor):
    trail()
    client.force_login(auditor)
    page = client.get(reverse("audit-trail"), {"category": "decisions"}).content.decode()
    complete, selected = page.index('id="trail-complete"'), page.index('id="trail-downloads"')
    assert complete < selected
    assert "complete, so it proves that none is missing" in page
    assert "a selection: it proves each entry it holds" in page
    whole = page[complete:selected]
    assert "category=" not in whole and "through=" in whole
    # The page opens without system activity: a selection too, so the whole trail is offered.
    assert 'id="trail-complete"' in client.get(reverse("audit-trail")).content.decode()
    everything = client.get(reverse("audit-trail"), {"category": "all"}).content.decode()
    assert 'id="trail-complete"' not in everything  # the page's own download is complete


def test_a_file_re_signed_with_another_key_does_not_verify_without_a_key_given(
    exported, settings, tmp_path
):
    """The key inside a manifest proves nothing: without --public-key the verifier trusts
    the pinned key (AUDIT_PUBLIC_KEY, else the deployment's own), never the manifest's."""
    trail()
    path, manifest_path = exported()
    settings.AUDIT_SIGNING_KEY = "b3RoZXIta2V5LW90aGVyLWtleS1vdGhlci1rZXktISE="
    forged = signing.sign(
        {
            k: v
            for k, v in json.loads(manifest_path.read_text()).items()
            if k not in ("signature", "public_key", "format")
        }
    )
    settings.AUDIT_SIGNING_KEY = "dGVzdHMtb25seS1zaWduaW5nLWtleS0wMTIzNDU2Nzg="
    manifest_path.write_text(json.dumps(forged))
    with pytest.raises(CommandError, match="signature does not match the pinned public key"):
        call_command("verify_export", str(path), str(manifest_path))


def test_verifying_with_no_key_pinned_says_how_to_pin_one(exported, settings):
    trail()
    path, manifest_path = exported()
    settings.AUDIT_SIGNING_KEY = ""
    settings.AUDIT_PUBLIC_KEY = ""
    with pytest.raises(CommandError, match="pass --public-key KEY"):
        call_command("verify_export", str(path), str(manifest_path))
    settings.AUDIT_PUBLIC_KEY = signing.public_key_text(
        signing.Ed25519PrivateKey.from_private_bytes(
            b"tests-only-signing-key-012345678"
        ).public_key()
    )
    call_command("verify_export", str(path), str(manifest_path))


def standalone(client, tmp_path, *args) -> subprocess.CompletedProcess:
    """The checker as the trail page offers it, run where Django cannot be imported."""
    script = tmp_path / "verify_export.py"
    script.write_bytes(client.get(reverse("audit-verifier")).content)
    blocked = (
        "import sys, runpy; sys.modules['django'] = None; sys.argv = sys.argv[1:]; "
        "runpy.run_path(sys.argv[0], run_name='__main__')"
    )
    return subprocess.run(
        [sys.executable, "-I", "-c", blocked, str(script), *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["csv", "ocsf"])
def test_the_downloadable_checker_agrees_with_verify_export_on_the_same_files(
    exported, client, auditor, tmp_path, capsys, fmt
):
    trail()
    client.force_login(auditor)
    page = client.get(reverse("audit-trail")).content.decode()
    assert reverse("audit-verifier") in page
    path, manifest_path = exported(fmt, category="decisions")
    key = signing.public_key_text()
    capsys.readouterr()  # what the export said
    verify(path, manifest_path, public_key=key)
    command = capsys.readouterr().out
    checked = standalone(client, tmp_path, path, manifest_path, "--public-key", key)
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout == command  # the same lines, word for word
    data = bytearray(path.read_bytes())
    data[-5] ^= 1
    path.write_bytes(bytes(data))
    with pytest.raises(CommandError) as refused:
        verify(path, manifest_path, public_key=key)
    failed = standalone(client, tmp_path, path, manifest_path, "--public-key", key)
    assert failed.returncode == 1
    assert failed.stderr.strip() == str(refused.value)
