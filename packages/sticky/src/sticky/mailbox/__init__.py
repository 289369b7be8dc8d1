"""The development mailbox: an SMTP sink that keeps every message, and a page to read them.

Like Mailpit: in development the mail service delivers here instead of to real inboxes, and a
developer opens ``/mail`` to read the verification and reset emails (or tests read them from
``/mail/api/messages``). It is a development tool, not a platform service.
"""
