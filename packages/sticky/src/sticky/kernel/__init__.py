"""The shared kernel: what every Sticky service is made of.

Settings, problem responses, logging, metrics, the service app factory, database engines and
migrations, access-token verification and the outgoing HTTP client. The kernel imports no
service; services import the kernel and never each other.
"""
