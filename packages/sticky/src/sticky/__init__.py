"""Sticky: reality's application layer."""
