"""Pure computations on frames and relations: cleaning, basket mining, churn features, scoring."""
