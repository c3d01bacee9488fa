"""People and signing in: roles, local sign-in and its throttling, single sign-on, sessions,
security events, and each person's own settings."""
