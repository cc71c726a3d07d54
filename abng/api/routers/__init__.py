"""One router per resource (STYLE §9); every one is a :class:`abng.api.guard.RoleRouter`."""
