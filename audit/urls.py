"""Every page of audit's packages: each package keeps its own list."""

from audit.oversight.urls import urlpatterns as oversight
from audit.people.urls import urlpatterns as people
from audit.privacy.urls import urlpatterns as privacy
from audit.reports.urls import urlpatterns as reports
from audit.review.urls import urlpatterns as review
from audit.trail.urls import urlpatterns as trail

urlpatterns = [*review, *reports, *people, *trail, *oversight, *privacy]
