"""Customers: their opt-outs and their erasure."""
