"""abng: an open-source software Broadband Network Gateway control plane."""

__version__ = "0.1.0"
