"""abng.config."""
