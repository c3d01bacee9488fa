"""Who may use each URL and each WebSocket route: every one the project defines has a decision.

The test walks the URL resolver. A pattern without an entry in the tables below fails the
test, so a new view cannot ship without someone deciding who may use it.
"""

import pytest
from asgiref.sync import async_to_sync
from axes.models import AccessAttempt
from channels.testing import WebsocketCommunicator
from django.contrib.admin.utils import quote
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from assistgov.asgi import application
from audit.oversight.models import (
    Incident,
    OversightSettings,
    SecondReview,
    StreamSampling,
    TrainingAttestation,
)
from audit.privacy.models import ErasureRequest
from audit.review.models import SavedView, WorkspaceSettings
from audit.routing import websocket_urlpatterns
from audit.trail.models import AuditEntry, LegalHold, RetentionPolicy
from audit.trail.record import audit_record
from audit.vocabulary import ReasonCode, TypeLabel
from streams.config import versions
from streams.models import (
    ApiToken,
    ChangeRequest,
    ConfidenceMatrix,
    GenesysConnection,
    GenesysFeedback,
    KnowledgeSource,
    PrivacySettings,
    QuarantinedFrame,
    StreamConfig,
    WebhookDelivery,
    WebhookEndpoint,
)
from streams.webhooks import outbox
from tests.factories import make_insight, make_knowledge_query

pytestmark = pytest.mark.django_db

ROLES = ("anonymous", "officer", "admin", "auditor", "dpo")
EVERYONE = dict.fromkeys(ROLES, 200)


def signed_in(anonymous, officer=200, admin=200, auditor=200, dpo=200):
    return {
        "anonymous": anonymous,
        "officer": officer,
        "admin": admin,
        "auditor": auditor,
        "dpo": dpo,
    }


PAGE = signed_in(302)  # any role; anonymous users are sent to log in
# The project's own pages: (url name, kwargs) -> status per role.
SITE = {
    ("home", None): signed_in(302, 302, 302, 302, 302),
    ("login", None): EVERYONE,
    ("logout", None): dict.fromkeys(ROLES, 405),  # POST only
    ("review", None): PAGE,
    ("account", None): PAGE,
    # Two-step sign-in: anyone signed in sets up theirs; the code page sends on whoever owes
    # no code.
    ("two-step", None): PAGE,
    ("login-code", None): signed_in(302, 302, 302, 302, 302),
    # An invited person's link: whoever holds a valid one (this one is not: it says so).
    ("welcome", (("uidb64", "MQ"), ("token", "not-a-token"))): EVERYONE,
    ("dashboard", None): PAGE,
    ("dashboard-health", None): PAGE,
    ("export-csv", (("kind", "insights"),)): PAGE,
    ("export-csv", (("kind", "decisions"),)): PAGE,
    ("export-csv", (("kind", "audit"),)): signed_in(302, officer=403),
    ("audit-trail", None): signed_in(302, officer=403),
    ("audit-export", (("fmt", "csv"),)): signed_in(302, officer=403),
    ("audit-export-manifest", (("fmt", "csv"),)): signed_in(302, officer=403),
    ("audit-verify", None): signed_in(302, officer=403),
    ("audit-verifier", None): signed_in(302, officer=403),
    ("export-csv", (("kind", "knowledge"),)): PAGE,
    ("export-csv", (("kind", "knowledge-results"),)): PAGE,
    ("knowledge-console", None): signed_in(302, auditor=403, dpo=403),
    ("knowledge-api-search", None): dict.fromkeys(ROLES, 405),  # POST with an API token only
    ("review-item-context", (("kind", "insight"), ("item_id", "streams.insight"))): PAGE,
    ("review-progress", None): PAGE,
    ("review-views", None): PAGE,
    ("review-view-delete", (("view_id", 1),)): dict.fromkeys(ROLES, 405) | {"anonymous": 405},
    # Oversight: officers give second reviews (admins and auditors see the first decisions,
    # so they give none), admins rule, everyone reads figures.
    ("second-review", None): signed_in(302, admin=403, auditor=403, dpo=403),
    ("second-review-decide", (("review_id", "audit.secondreview"),)): dict.fromkeys(ROLES, 405),
    ("second-review-release", (("review_id", "audit.secondreview"),)): dict.fromkeys(ROLES, 405),
    ("adjudication", None): signed_in(302, officer=403, auditor=403, dpo=403),
    ("adjudicate", (("review_id", "audit.secondreview"),)): dict.fromkeys(ROLES, 405),
    ("oversight-csv", None): PAGE,
    # Evidence packs: asked for and downloaded by governance admins and auditors.
    ("evidence", None): signed_in(302, officer=403, dpo=403),
    ("evidence-download", (("pack_id", 999), ("what", "zip"))): signed_in(
        302, officer=403, admin=404, auditor=404, dpo=403
    ),
    # Single sign-on (allauth): off in the tests' settings, so there is no provider to
    # sign in with (test_sso turns it on); a sign-in that failed says so (401).
    ("openid_connect_login", (("provider_id", "sso"),)): dict.fromkeys(ROLES, 404),
    ("openid_connect_callback", (("provider_id", "sso"),)): dict.fromkeys(ROLES, 404),
    ("socialaccount_login_cancelled", None): EVERYONE,
    ("socialaccount_login_error", None): dict.fromkeys(ROLES, 401),
    ("socialaccount_signup", None): dict.fromkeys(ROLES, 302),  # nothing pending: to login
    ("socialaccount_connections", None): dict.fromkeys(ROLES, 302),
    ("account_login", None): dict.fromkeys(ROLES, 302),  # to the one login page
    ("account_signup", None): dict.fromkeys(ROLES, 302),
    ("account_inactive", None): dict.fromkeys(ROLES, 302),
    ("healthz", None): EVERYONE,
    ("readyz", None): EVERYONE,
    # Closed without METRICS_TOKEN (or METRICS_PUBLIC): see tests/streams/test_operations.py.
    ("metrics", None): dict.fromkeys(ROLES, 403),
    # Personal data: the record of processing for admins, auditors and data protection
    # officers; finding a subject for those who may erase; a reveal is a POST.
    ("privacy", None): signed_in(302, officer=403),
    ("privacy-find", None): signed_in(302, officer=403, auditor=403),
    ("privacy-reveal", (("kind", "insight"), ("item_id", "streams.insight"))): dict.fromkeys(
        ROLES, 405
    ),
}
ADMIN_PAGE = signed_in(302)
# The admin site's own views.
ADMIN_SITE = {
    "index": ADMIN_PAGE,
    "login": signed_in(200, 302, 302, 302, 302),
    "logout": signed_in(302, 405, 405, 405, 405),
    "password_change": ADMIN_PAGE,
    "password_change_done": ADMIN_PAGE,
    "autocomplete": signed_in(302, 403, 403, 403, 403),  # only with a model field to complete
    "jsi18n": ADMIN_PAGE,
    "view_on_site": signed_in(302, 404, 404, 404, 404),  # no model here has a public page
}
# Per registered model: which roles may view (list, detail, history), add and delete.
OFF, ADM, AUD, DPO = "officer", "admin", "auditor", "dpo"
ADMIN_MODELS = {
    "auth.user": {"view": (), "add": (), "delete": ()},  # user management: superusers only
    "auth.group": {"view": (), "add": (), "delete": ()},
    "streams.genesysconnection": {"view": (ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "streams.confidencematrix": {"view": (ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "streams.streamconfig": {"view": (OFF, ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "streams.insight": {"view": (OFF, ADM, AUD, DPO), "add": (), "delete": ()},
    "streams.quarantinedframe": {"view": (OFF, ADM, AUD), "add": (), "delete": ()},
    "audit.auditentry": {"view": (ADM, AUD, DPO), "add": (), "delete": ()},
    "audit.reasoncode": {"view": (OFF, ADM, AUD), "add": (ADM,), "delete": ()},
    "audit.typelabel": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    "streams.webhookendpoint": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    "streams.webhookdelivery": {"view": (ADM, AUD), "add": (), "delete": ()},
    "streams.genesysfeedback": {"view": (ADM, AUD), "add": (), "delete": ()},
    "streams.knowledgesource": {"view": (ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "streams.knowledgestream": {"view": (ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "streams.knowledgequery": {"view": (OFF, ADM, AUD, DPO), "add": (), "delete": ()},
    "streams.apitoken": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    # Failed sign-ins (django-axes): admins unlock by deleting them.
    "axes.accessattempt": {"view": (ADM, AUD), "add": (), "delete": (ADM,)},
    "audit.workspacesettings": {"view": (ADM, AUD), "add": (), "delete": ()},
    "audit.savedview": {"view": (ADM, AUD), "add": (), "delete": (ADM,)},
    # Retention: admins set it; holds are lifted, never deleted.
    "audit.retentionpolicy": {"view": (ADM, AUD), "add": (), "delete": ()},
    "audit.legalhold": {"view": (ADM, AUD, DPO), "add": (ADM,), "delete": ()},
    # Oversight: admins set the shares; second reviews are recorded by their pages only.
    "audit.oversightsettings": {"view": (ADM, AUD), "add": (), "delete": ()},
    "audit.streamsampling": {"view": (ADM, AUD), "add": (ADM,), "delete": (ADM,)},
    "audit.secondreview": {"view": (ADM, AUD), "add": (), "delete": ()},
    # Four-eyes: requests are made by saving a configuration page; accepted by POST (decide).
    "streams.changerequest": {"view": (ADM, AUD), "add": (), "delete": ()},
    # Versions of the settings that judge items: written by changes, read-only everywhere.
    "streams.configversion": {"view": (ADM, AUD), "add": (), "delete": ()},
    # The overseers' training and serious incidents: recorded by admins, read by auditors.
    "audit.trainingattestation": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    "audit.incident": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    # People: invited by admins, roles and activation (four-eyes); nobody is deleted. An
    # invitation link is made by admins (this person needs none: sent back to their page).
    "audit.person": {"view": (ADM, AUD), "add": (ADM,), "delete": ()},
    # Personal data: detection is set by admins (four-eyes); erasures are asked by admins
    # and data protection officers, carried out by a second one (an action), never deleted.
    "streams.privacysettings": {"view": (ADM, AUD, DPO), "add": (), "delete": ()},
    "audit.erasurerequest": {"view": (ADM, AUD, DPO), "add": (ADM, DPO), "delete": ()},
}
# Django's unnamed admin routes: the object shortcut redirects to its change page, and the
# catch-all sends unknown admin URLs to the index (or to log in).
ADMIN_UNNAMED = {"<path:object_id>/", "(?P<url>.*)$"}
# The review socket serves whoever may read the review queue (data protection officers too,
# to reveal an item's original).
CONSUMERS = {
    "ws-review": {
        "anonymous": False,
        "officer": True,
        "admin": True,
        "auditor": True,
        "dpo": True,
    }
}


def walk(patterns, namespace=None):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from walk(pattern.url_patterns, pattern.namespace or namespace)
        elif isinstance(pattern, URLPattern):
            yield namespace, pattern


@pytest.fixture
def cast(officer, gov_admin, auditor, dpo):
    return {
        "anonymous": None,
        "officer": officer,
        "admin": gov_admin,
        "auditor": auditor,
        "dpo": dpo,
    }


@pytest.fixture
def objects(django_user_model):
    insight = make_insight()
    QuarantinedFrame.objects.create(
        stream=insight.stream, received_at=insight.received_at, reason="r", raw="x", raw_size=1
    )
    audit_record(action="test", actor_label="t")
    endpoint = WebhookEndpoint(
        name="receiver", url="https://receiver.test/hook", events=["insight.created"]
    )
    endpoint.set_secret(outbox.new_secret())
    endpoint.save()
    outbox.enqueue("insight.created", [{"id": insight.pk}])
    query = make_knowledge_query()
    token = ApiToken(name="desktop")
    token.issue()
    token.save()
    return {
        "streams.knowledgesource": KnowledgeSource.objects.first(),
        "streams.knowledgestream": query.stream,
        "streams.knowledgequery": query,
        "streams.apitoken": token,
        "streams.webhookendpoint": endpoint,
        "streams.webhookdelivery": WebhookDelivery.objects.first(),
        "streams.genesysfeedback": GenesysFeedback.objects.create(
            stream=insight.stream,
            conversation_id="conv-1",
            suggestion_id="sug-1",
            rating="Positive",
            decided_by="olivia",
            next_attempt_at=insight.received_at,
        ),
        "auth.user": django_user_model.objects.first(),
        "auth.group": Group.objects.first(),
        "streams.genesysconnection": GenesysConnection.objects.first(),
        "streams.confidencematrix": ConfidenceMatrix.objects.first(),
        "streams.streamconfig": StreamConfig.objects.first(),
        "streams.insight": insight,
        "streams.quarantinedframe": QuarantinedFrame.objects.first(),
        "audit.auditentry": AuditEntry.objects.first(),
        "audit.reasoncode": ReasonCode.objects.first(),
        "audit.typelabel": TypeLabel.objects.first(),
        "audit.workspacesettings": WorkspaceSettings.current(),
        "audit.retentionpolicy": RetentionPolicy.current(),
        "audit.legalhold": LegalHold.objects.create(scope="all", reason="matter 12"),
        "audit.savedview": SavedView.objects.create(
            name="mine", owner=django_user_model.objects.first(), query="status=pending"
        ),
        "audit.oversightsettings": OversightSettings.current(),
        "streams.changerequest": ChangeRequest.objects.create(
            kind="change", summary="a change", author_label="adam", expires_at=insight.received_at
        ),
        "audit.streamsampling": StreamSampling.objects.create(stream=insight.stream),
        "streams.configversion": versions.current(insight.stream.confidence_matrix),
        "audit.trainingattestation": TrainingAttestation.objects.create(
            person=django_user_model.objects.first(),
            course="AI oversight",
            completed_on=insight.received_at.date(),
            evidence="LMS 1",
        ),
        "audit.person": django_user_model.objects.first(),
        "audit.incident": Incident.objects.create(
            title="An incident",
            occurred_at=insight.received_at,
            detected_at=insight.received_at,
            what_happened="What happened",
        ),
        "audit.secondreview": SecondReview.objects.create(
            kind="insight",
            item_id=insight.pk,
            source="officer",
            first_status="approved",
            first_at=insight.received_at,
        ),
        "streams.privacysettings": PrivacySettings.current(),
        "audit.erasurerequest": ErasureRequest.objects.create(
            conversation_id="conv-9",
            reason="the subject asked",
            requested_by=django_user_model.objects.first(),
        ),
        "axes.accessattempt": AccessAttempt.objects.create(
            username="someone", ip_address="192.0.2.1", failures_since_start=5, user_agent="x"
        ),
    }


def site_kwargs(kwargs, objects) -> dict:
    """A page's URL arguments; an `*_id` naming a model is that fixture object's key (keys
    depend on what ran before, so none is written down)."""
    return {
        name: objects[value].pk if name.endswith("_id") and value in objects else value
        for name, value in kwargs or ()
    }


def status_for(client, user, url):
    client.logout()
    if user is not None:
        client.force_login(user)
    return client.get(url).status_code


def admin_expectation(name: str, objects):
    """The URL and expected statuses of a named admin route, or None if it has no decision."""
    if name in ADMIN_SITE:
        kwargs = {"content_type_id": 999, "object_id": 999} if name == "view_on_site" else {}
        return reverse(f"admin:{name}", kwargs=kwargs), ADMIN_SITE[name]
    for label, rights in ADMIN_MODELS.items():
        prefix = label.replace(".", "_") + "_"
        if not name.startswith(prefix):
            continue
        view = name.removeprefix(prefix)
        obj = objects[label]
        allowed = {
            "changelist": rights["view"],
            "export": rights["view"],
            "change": rights["view"],
            "history": rights["view"],
            "password_change": (),
            "add": rights["add"],
            "delete": rights["delete"],
            "decide": None,  # POST only
            "check": None,  # POST only (a connection check opens a channel)
            "invitation": (ADM,),
        }[view]
        # As the admin links them: quoted, so "msg_26..." is not read back as "msg&...".
        with_id = ("change", "history", "delete", "invitation")
        kwargs = {"object_id": quote(obj.pk)} if view in with_id else {}
        if view == "password_change":
            kwargs = {"id": obj.pk}
        if allowed is None:
            kwargs = {"pk": obj.pk}
            expected = dict.fromkeys(ROLES, 405)
        else:
            done = 302 if view == "invitation" else 200
            expected = {role: done if role in allowed else 403 for role in ROLES}
        expected["anonymous"] = 302
        return reverse(f"admin:{name}", kwargs=kwargs), expected
    return None


def test_every_url_has_a_decision_and_the_decision_holds(client, cast, objects):
    undecided, wrong = [], []
    for namespace, pattern in walk(get_resolver().url_patterns):
        route = str(pattern.pattern)
        if namespace == "admin" and pattern.name is None:
            if route not in ADMIN_UNNAMED:
                undecided.append(f"admin {route}")
            continue
        if namespace == "admin":
            if pattern.name == "app_list":
                continue  # checked below, per app
            decided = admin_expectation(pattern.name, objects)
            if decided is None:
                undecided.append(f"admin:{pattern.name}")
                continue
            cases = [decided]
        else:
            cases = [
                (reverse(name, kwargs=site_kwargs(kwargs, objects)), expected)
                for (name, kwargs), expected in SITE.items()
                if name == pattern.name
            ]
            if not cases:
                undecided.append(pattern.name or route)
                continue
        for url, expected in cases:
            for role, user in cast.items():
                actual = status_for(client, user, url)
                if actual != expected[role]:
                    wrong.append(f"{url} as {role}: {actual}, expected {expected[role]}")
    assert not undecided, f"URLs without an access decision: {undecided}"
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize(
    ("app_label", "expected"),
    [
        ("auth", signed_in(302, 404, 404, 404, 404)),
        ("streams", signed_in(302)),
        ("audit", signed_in(302)),
        ("axes", signed_in(302, 404, 200, 200, 404)),
    ],
)
def test_admin_app_pages_follow_the_models_they_list(client, cast, app_label, expected):
    url = reverse("admin:app_list", kwargs={"app_label": app_label})
    assert {role: status_for(client, user, url) for role, user in cast.items()} == expected


def test_every_websocket_route_has_a_decision():
    assert {route.name for route in websocket_urlpatterns} == set(CONSUMERS)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", ROLES)
def test_websocket_routes_admit_exactly_the_roles_decided(role, cast):
    user = cast[role]
    headers = [(b"origin", b"http://testserver"), (b"host", b"testserver")]
    if user is not None:  # signed in as a browser is: with a session cookie
        browser = Client()
        browser.force_login(user)
        headers.append((b"cookie", f"sessionid={browser.cookies['sessionid'].value}".encode()))

    async def connects(path):
        communicator = WebsocketCommunicator(application, path, headers=headers)
        connected, _ = await communicator.connect(timeout=15)
        await communicator.disconnect()
        return connected

    for route in websocket_urlpatterns:
        path = "/" + str(route.pattern)
        assert async_to_sync(connects)(path) == CONSUMERS[route.name][role], path
