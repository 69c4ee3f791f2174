"""Singer tap for Amazon Selling Partner API invoices."""

from importlib.metadata import version

# pyproject.toml's [project] version is the one source; the installed metadata carries it.
__version__ = version("tap-spinvoices")

__all__ = ["__version__"]
