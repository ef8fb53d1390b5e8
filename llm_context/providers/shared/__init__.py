"""What every provider adapter shares: SDK errors and streams, reply checks, redirects."""
