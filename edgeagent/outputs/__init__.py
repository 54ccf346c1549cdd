"""First-party outputs that need no GPIO (speech) and the announcer that drives all outputs."""
