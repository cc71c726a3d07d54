"""abng.api."""
