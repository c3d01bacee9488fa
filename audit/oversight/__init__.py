"""Oversight of the overseers: the blind second review and what it hides, sampling,
adjudication, reviewers' figures, and four-eyes change requests in the admin."""
