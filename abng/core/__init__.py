"""abng.core."""
