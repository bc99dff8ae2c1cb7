"""The CRM: leads, numbers, calls as the manager and agent see them."""
