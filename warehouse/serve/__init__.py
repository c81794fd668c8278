"""Floor 6, serve: what readers get: the published marts, read-only queries, the BI dialect and the report.
Imports analytics and below.
"""
