"""Product catalogs of the demo CRM, as data files (regenerate with ``build_catalogs.py``)."""
