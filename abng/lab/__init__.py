"""abng.lab."""
