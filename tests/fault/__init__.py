"""Fault tests: processes killed mid-work, a database that goes away, a full disk."""
