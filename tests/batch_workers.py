"""Work for spawned processes in the batch and bulk tests (importable, for spawn)."""

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


def run_map(profiles: dict[str, Any], checkpoint: str, count: int, concurrency: int) -> int:
    """In a new process: the bulk runner over `count` rows with a checkpoint (the kill test
    kills it mid-run)."""
    from llm_context import LLMContext

    with LLMContext(profiles) as ctx:
        run = ctx.llm("openai").map_sync(
            range(count),
            lambda i: [{"role": "user", "content": f"Row {i}"}],
            checkpoint=checkpoint,
            concurrency=concurrency,
            progress=False,
        )
        return run.done
