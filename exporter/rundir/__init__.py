"""The run directory: the only contract between the getter and the uploader (see ARCHITECTURE.md)."""
