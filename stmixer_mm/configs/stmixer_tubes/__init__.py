"""New-style configs (see ``stmixer_mm/configs/__init__.py``)."""
