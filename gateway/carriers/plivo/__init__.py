"""Plivo Voice adapter: Make Call API, Plivo XML answers and V3-signed callbacks.

Click-to-call needs nothing in Plivo's console: each call carries its own answer, ring and
hangup URLs. For inbound calls, point the number's Plivo Application at the account's
`answer` and `hangup` webhook URLs (method POST).
"""
