"""Floor 3, core: ``staging`` into the ``core`` star schema (the SQL models and their writer, the type-2
merge, the services load, the declared business rules). Imports ingest and foundation.
"""
