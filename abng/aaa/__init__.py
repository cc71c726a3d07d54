"""abng.aaa."""
