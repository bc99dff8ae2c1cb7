"""Twilio Programmable Voice adapter."""
