"""Auth's HTTP API, one router per resource."""

from fastapi import APIRouter

from sticky.auth.routes import accounts, keys, sessions, team_members, users

routers: list[APIRouter] = [
    accounts.router,
    sessions.router,
    keys.router,
    users.router,
    team_members.router,
]
