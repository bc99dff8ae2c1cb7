"""Dialgate: telephony gateway, click-to-call dialer and lightweight sales CRM."""
