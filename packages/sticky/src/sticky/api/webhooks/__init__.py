"""Webhooks: endpoints users register, deliveries queued per event, signed attempts, a log.

The webhooks reactor (:mod:`sticky.api.reactors.webhooks`) queues deliveries from the event
log; :class:`~sticky.api.webhooks.sender.Sender` attempts them; the routes
(:mod:`sticky.api.routes.webhooks`) manage endpoints and show the log.
"""

from sticky.api.webhooks.service import Webhooks

__all__ = ["Webhooks"]
