"""Exotel adapter: "connect two numbers" click-to-call, StatusCallback and Passthru flows."""
