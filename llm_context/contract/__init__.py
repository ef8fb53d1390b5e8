"""What flows between the client and the adapters: normalised messages and tools in,
frozen requests to the adapter, results out, and the checks on user content."""
