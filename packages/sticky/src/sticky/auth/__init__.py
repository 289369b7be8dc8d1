"""The auth service: users, team members, API keys, refresh tokens, signing keys, rate limits.

It signs the short-lived access tokens every other service verifies from its JWKS, and it is
the only service that sees passwords and keys. The HTTP contract is ``docs/auth.md``.
"""
