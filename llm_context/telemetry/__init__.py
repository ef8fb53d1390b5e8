"""OpenTelemetry traces and metrics in the GenAI semantic conventions: `otel` finds the
tracer and instruments (only when OpenTelemetry is already imported and a provider is set:
otherwise nothing is imported and nothing is done), `attributes` builds the conventions'
attributes from our requests and results, `operation` holds one call's span and records
its metrics once, `tools` traces the tool loop."""
