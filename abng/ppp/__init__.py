"""abng.ppp."""
