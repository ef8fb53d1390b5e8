"""Google Gemini: request mapping, reply and stream parsing, media, fetching, ids, the adapter."""
