"""Delivery: the send queue, the sender, its channels and templates, and how deliveries end."""
