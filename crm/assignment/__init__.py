"""Lead assignment: pure policies, the service that applies them, and its audit trail."""
