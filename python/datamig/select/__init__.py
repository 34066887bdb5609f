"""District selection: per-district metrics across stores, score, filters and pilot picks."""
