"""Quality evaluation: forms, answers and the score (pure cores), used by ccd.api.quality."""
