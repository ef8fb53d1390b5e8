"""The package version, in a module of its own: parts of the package that need it import
this, not the package (which would import them back)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
