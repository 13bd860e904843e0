"""SQLModel tables and queries: users, poems, ratings, model versions."""
