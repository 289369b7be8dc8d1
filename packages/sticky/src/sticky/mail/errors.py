"""What can go wrong in the mail service, drawn once.

    MailError
     ├── UnknownTemplate        the template is not in the catalog
     ├── MissingTemplateData    the data lacks keys the template needs
     ├── UnusableTemplateData   the data has the keys, but a value of a shape it cannot use
     ├── IdempotencyKeyReused   the key already names a different message
     ├── MessageNotFound        no message has that id
     ├── InvalidCursor          a list cursor this service did not write
     ├── MailConfigError        STICKY_SMTP_URL or STICKY_MAIL_FROM is unusable
     │                          (also a ConfigurationError, so startup fails naming it)
     └── DeliveryFailed         one SMTP attempt failed; ``permanent`` says whether to retry

The HTTP layer (``routes``) turns them into problems; nothing below it knows about HTTP.
"""

from __future__ import annotations

from collections.abc import Sequence

from sticky.kernel.settings import ConfigurationError


class MailError(Exception):
    """The root of every error the mail service raises on purpose."""


class UnknownTemplate(MailError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        super().__init__(f"{name!r} is not a template; the templates are {', '.join(known)}")
        self.name = name
        self.known = tuple(known)


class MissingTemplateData(MailError):
    def __init__(self, template: str, keys: Sequence[str]) -> None:
        super().__init__(f"the {template} template needs {', '.join(keys)} in its data")
        self.template = template
        self.keys = tuple(keys)


class UnusableTemplateData(MailError):
    def __init__(self, template: str, reason: str) -> None:
        super().__init__(f"the {template} template cannot use its data: {reason}")
        self.template = template
        self.reason = reason


class IdempotencyKeyReused(MailError):
    def __init__(self, key: str) -> None:
        super().__init__(f"the idempotency key {key!r} was already used for a different message")
        self.key = key


class MessageNotFound(MailError):
    def __init__(self, message_id: str) -> None:
        super().__init__(f"there is no message {message_id!r}")
        self.message_id = message_id


class InvalidCursor(MailError):
    pass


class MailConfigError(MailError, ConfigurationError):
    pass


class DeliveryFailed(MailError):
    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent
