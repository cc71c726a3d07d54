"""abng.dataplane."""
