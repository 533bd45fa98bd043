"""Authentication (sessions, personal access tokens, HTTP Basic), permissions and access rules."""
