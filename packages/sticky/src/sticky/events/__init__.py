"""The events service: the event log, streams, subscriptions and analytics projections."""
