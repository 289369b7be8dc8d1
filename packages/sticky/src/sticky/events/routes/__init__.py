"""The events service's HTTP API, one router per concern."""

from fastapi import APIRouter

from sticky.events.routes import follow, log, streams

routers: list[APIRouter] = [follow.router, log.router, streams.router]
