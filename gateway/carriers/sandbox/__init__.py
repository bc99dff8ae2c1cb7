"""The built-in sandbox carrier: a real HTTP carrier with deterministic outcomes."""
