"""Floor 1, foundation: what every stage uses (settings, errors, connections, SQL quoting, JSON output,
personal data, the per-run relations). Imports nothing of the floors above.
"""
