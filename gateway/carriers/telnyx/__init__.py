"""Telnyx Call Control (Voice API v2) adapter."""
