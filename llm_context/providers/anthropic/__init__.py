"""Anthropic: request mapping, reply and stream parsing, schema transform, the adapter."""
