"""Configuration: the profiles file, the field vocabulary, the frozen settings,
and resolving a profile's key, base URL and model at use time."""
