"""Vonage Voice API adapter (application JWTs, NCCO answers, signed JSON event webhooks)."""
