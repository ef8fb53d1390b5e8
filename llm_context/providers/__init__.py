"""Provider adapters. Only `base` and `registry` load eagerly; each adapter (and its SDK)
loads on first use."""
