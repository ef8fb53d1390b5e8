"""`python -m llm_context.cli` runs the `llm-context` command."""

from . import main

raise SystemExit(main())
