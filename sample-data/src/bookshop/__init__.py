"""Corner Bookshop back end."""

__version__ = "1.4.0"
