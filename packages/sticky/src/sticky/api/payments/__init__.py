"""Payments: taking buyers' money through a gateway and giving it back."""
