"""abng.cli."""
