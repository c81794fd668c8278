"""Floor 4, quality: expectation suites, validation of staged batches and marts, the validation status and
Data Docs. Imports core and below.
"""
