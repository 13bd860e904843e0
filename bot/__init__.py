"""Platform-neutral conversation logic and the `yinshi` command line."""
