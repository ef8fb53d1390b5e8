"""Streams: what the caller holds (`handles`), the provider-neutral events and their
accumulator (`events`), the two-phase flow (`flow`) and how a stream is stopped (`stop`)."""
