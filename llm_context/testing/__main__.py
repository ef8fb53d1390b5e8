"""`python -m llm_context.testing` runs the fake provider server until Ctrl-C."""

from ..cli.fake_server import main

raise SystemExit(main())
