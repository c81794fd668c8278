"""Pure computations on frames and matrices: baskets and association rules, the recommender, churn models and
scores. Nothing here imports `warehouse`: the warehouse reads the star schema and hands these functions its data."""
