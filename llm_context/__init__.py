"""llm_context: one sync-first API for language models across seven providers."""
