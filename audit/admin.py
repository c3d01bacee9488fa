"""Every admin page of audit's packages (each registers its own when imported)."""

from audit.oversight import admin as oversight_admin
from audit.people import admin as people_admin
from audit.privacy import admin as privacy_admin
from audit.review import admin as review_admin
from audit.trail import admin as trail_admin

__all__ = [
    "oversight_admin",
    "people_admin",
    "privacy_admin",
    "review_admin",
    "trail_admin",
]
