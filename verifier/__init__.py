"""Verifying shared credentials from evidence alone: the report, the checks, the offline bundle."""
