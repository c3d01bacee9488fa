"""The streams app's admin pages, one module per feature (this file only loads them)."""

from streams.config import admin as config_admin
from streams.ingest import admin as ingest_admin
from streams.knowledge import admin as knowledge_admin
from streams.privacy import admin as privacy_admin
from streams.tokens import admin as tokens_admin
from streams.webhooks import admin as webhooks_admin

__all__ = [
    "config_admin",
    "ingest_admin",
    "knowledge_admin",
    "privacy_admin",
    "tokens_admin",
    "webhooks_admin",
]
