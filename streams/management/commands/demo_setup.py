from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from streams.config.documents import config_import
from streams.models import GenesysConnection
from streams.simulator.conversations import agent_ids, queue_ids
from streams.simulator.server import SimulatorConfig

# `make demo` runs the simulator with this many queues.
DEMO_QUEUES = 3

DEMO_USERS = (
    # username, password, group
    ("officer", "officer-demo-pass", "Compliance officers"),
    ("officer2", "officer2-demo-pass", "Compliance officers"),
    ("admin", "admin-demo-pass", "Governance admins"),
    ("admin2", "admin2-demo-pass", "Governance admins"),
    ("auditor", "auditor-demo-pass", "Auditors"),
    ("dpo", "dpo-demo-pass", "Data protection officers"),
)


def demo_document(simulator_url: str, client_id: str, client_secret: str) -> dict:
    return {
        "version": 1,
        "connections": [
            {
                "name": "demo-simulator",
                "flavour": "seed",
                "api_base_url": simulator_url,
                "login_base_url": simulator_url,
                "client_id": client_id,
                "client_secret": client_secret,
            }
        ],
        "confidence_matrices": [
            {
                "name": "default",
                "description": "Seed 1's weights: knowledge 1.0, compliance 0.9, sentiment 0.8; "
                "for Genesys suggestions, knowledge search 1.0 and intents 0.8.",
                "default_weight": 0.5,
                "no_confidence": "review",
                "rules": [
                    {
                        "insight_type": "knowledge_recommendation",
                        "min_confidence": 0.6,
                        "weight": 1.0,
                    },
                    {"insight_type": "compliance_flag", "min_confidence": 0.0, "weight": 0.9},
                    # One rule that decides on its own, so that officers' blind checks of
                    # a rule ("rules against people" on the dashboard) have one to show.
                    {
                        "insight_type": "sentiment_alert",
                        "min_confidence": 0.5,
                        "weight": 0.8,
                        "auto_approve_at": 0.95,
                    },
                    {"insight_type": "knowledge.search", "min_confidence": 0.6, "weight": 1.0},
                    {"insight_type": "intent", "min_confidence": 0.5, "weight": 0.8},
                ],
            }
        ],
        "streams": [
            {
                "name": "demo-insights",
                "connection": "demo-simulator",
                "confidence_matrix": "default",
                # Every type and every conversation. The seed flavour has no queues and takes
                # all; switched to the notifications flavour, the stream follows the
                # simulator's queues and agents: their conversations are found as they start.
                "insight_types": [],
                "interaction_ids": [],
                "queue_ids": queue_ids(DEMO_QUEUES),
                # Its agents too: their conversation summaries arrive as they are made.
                "user_ids": agent_ids(SimulatorConfig().agents),
                "enabled": True,
            }
        ],
        "knowledge_sources": [
            {"knowledge_base_id": "kb-1", "name": "Billing and refunds"},
            {"knowledge_base_id": "kb-2", "name": "Plans and roaming"},
            {"knowledge_base_id": "kb-3", "name": "Accounts and security"},
        ],
        "knowledge_streams": [
            {
                "name": "demo-knowledge",
                "connection": "demo-simulator",
                "confidence_threshold": 0.6,
                # Each knowledge recommendation (suggestion, with the notifications flavour)
                # is searched too: its answer joins the queue.
                "auto_query_types": [
                    "knowledge_recommendation",
                    "knowledge.search",
                    "knowledge.article",
                ],
                "sources": [
                    {"knowledge_base_id": "kb-1", "priority": 1},
                    {"knowledge_base_id": "kb-2", "priority": 2},
                    {"knowledge_base_id": "kb-3", "priority": 3},
                ],
            }
        ],
    }


class Command(BaseCommand):
    help = (
        "Create the demo users (two officers, two admins, an auditor) and a connection and "
        "stream that point at the built-in simulator. Idempotent. Refuses to run with DEBUG off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--simulator-url", default="http://127.0.0.1:8001")
        parser.add_argument("--client-id", default="assistgov-demo")
        parser.add_argument("--client-secret", default="assistgov-demo-secret")
        parser.add_argument(
            "--site-url",
            default="http://127.0.0.1:8000/",
            help="Where the demo is served (`make demo` passes its HOST and PORT).",
        )
        parser.add_argument("--force", action="store_true", help="Run even with DEBUG off.")

    def handle(self, *args, **options):
        if not settings.DEBUG and not options["force"]:
            raise CommandError(
                "demo_setup creates users with published passwords: it runs only with DEBUG=true "
                "(or --force)."
            )
        User = get_user_model()
        for username, password, group_name in DEMO_USERS:
            user, _ = User.objects.get_or_create(username=username)
            user.is_staff = True
            user.set_password(password)
            user.save()
            user.groups.add(Group.objects.get(name=group_name))
        document = demo_document(
            options["simulator_url"], options["client_id"], options["client_secret"]
        )
        if GenesysConnection.objects.filter(name=document["connections"][0]["name"]).exists():
            # A demo run before: what its admins changed since (under four-eyes) stays; only
            # the simulator's address follows the ports of this run.
            document = {"version": document["version"], "connections": document["connections"]}
        counts = config_import(document, source="demo_setup")
        self.stdout.write(
            f"Demo configuration: {counts['created']} created, {counts['updated']} updated, "
            f"{counts['unchanged']} unchanged."
        )
        self.stdout.write(f"Log in at {options['site_url']} as one of:")
        for username, password, group_name in DEMO_USERS:
            self.stdout.write(f"  {username:<8} password {password:<20} ({group_name})")
