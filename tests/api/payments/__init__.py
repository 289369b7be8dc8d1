"""Tests of the payment gateways: one contract for all, and each adapter's own behaviour."""
