"""Floor 5, analytics: market-basket mining, the recommender, churn, the services marts and the care scan.
Imports quality and below.
"""
