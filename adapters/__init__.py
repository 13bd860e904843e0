"""Thin platform glue: Telegram, Discord and the console."""
