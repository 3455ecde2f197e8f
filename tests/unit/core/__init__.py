"""Tests that mirror ``workers/core``."""
