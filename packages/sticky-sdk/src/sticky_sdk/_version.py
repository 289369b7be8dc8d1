"""The SDK's version, sent in every User-Agent."""

__version__ = "0.1.0"
