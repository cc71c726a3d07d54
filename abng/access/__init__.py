"""abng.access."""
