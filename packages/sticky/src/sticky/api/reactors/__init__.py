"""Reactors: the api's followers of the event log (webhooks, receipts), on durable subscriptions."""

from sticky.api.reactors.runner import Reactors

__all__ = ["Reactors"]
