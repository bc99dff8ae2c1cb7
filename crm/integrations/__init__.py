"""Outgoing webhooks: subscriptions, their deliveries, and the dispatcher that sends them."""
