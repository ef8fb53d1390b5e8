"""Work for a spawned process in the batch tests (importable, for multiprocessing spawn)."""

from __future__ import annotations

from typing import Any


def reattach(profiles: dict[str, Any], profile: str, job_id: str) -> list[tuple[str, str]]:
    """In a new process: reattach to a batch by id, wait, and report (custom_id, outcome)."""
    from llm_context import ChatResult, LLMContext

    with LLMContext(profiles) as ctx:
        job = ctx.batch(job_id, profile=profile).wait(poll_s=0.01, timeout=30)
        return [
            (cid, out.text if isinstance(out, ChatResult) else type(out).__name__)
            for cid, out in job.results().items()
        ]
