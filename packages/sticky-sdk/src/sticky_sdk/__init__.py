"""The public Python SDK for Sticky."""
