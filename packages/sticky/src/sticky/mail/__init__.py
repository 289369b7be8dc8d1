"""The mail service: an outbox of rendered messages, delivered over SMTP by a worker.

Other services ask for a message by template name; it is rendered and committed to the outbox
before the answer, then delivered (leased, retried with backoff, every attempt logged) by
whichever replica's worker claims it first.
"""
