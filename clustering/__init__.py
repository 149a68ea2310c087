"""Clustering stage: posts in, talk attribution, topics, kinds and takeaways out (pure library)."""
