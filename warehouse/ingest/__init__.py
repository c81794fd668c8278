"""Floor 2, ingest: the CRM source and file drops into ``raw``, ``staging`` and ``quarantine`` (extraction,
files and their profiles, exchange rates, staging). Imports foundation only.
"""
